// dbcore-scoped tables as Drizzle users declare them.  The tables come from
// the SQL migrations in ../migrations (run by dbcore-migrate); this file
// describes them to Drizzle.  What dbcore does in the database:
//   - client_id: NOT NULL, defaults to the client scope; row level security
//     shows and accepts only the current client's rows.  Never set it by
//     hand: leave it to the default.
//   - updated_at: dbcore's trigger sets it on every UPDATE, however the row
//     is written; no $onUpdate() in the schema.
import { sql } from 'drizzle-orm';
import { boolean, foreignKey, index, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/** The client column of a dbcore-scoped table: filled in from the client scope. */
const clientId = () => uuid('client_id').notNull().default(sql`dbcore.current_client_id()`);

/** created_at and updated_at; dbcore.attach_updated_at() keeps updated_at current. */
const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
};

export const projects = pgTable('projects', {
  clientId: clientId(),
  id: uuid('id').notNull().defaultRandom(),
  name: text('name').notNull(),
  ...timestamps,
}, (t) => [primaryKey({ columns: [t.clientId, t.id] })]);

export const tasks = pgTable('tasks', {
  clientId: clientId(),
  id: uuid('id').notNull().defaultRandom(),
  projectId: uuid('project_id').notNull(),
  title: text('title').notNull(),
  done: boolean('done').notNull().default(false),
  ...timestamps,
}, (t) => [
  primaryKey({ columns: [t.clientId, t.id] }),
  foreignKey({ columns: [t.clientId, t.projectId], foreignColumns: [projects.clientId, projects.id] }).onDelete('cascade'),
  index('tasks_project_idx').on(t.clientId, t.projectId),
]);
