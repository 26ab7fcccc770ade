-- Up Migration
-- The foreign key comes after the scoping: dbcore refuses a key from an
-- unscoped table to a scoped one (its checks ignore row level security).
CREATE TABLE tasks (
    client_id   uuid NOT NULL DEFAULT dbcore.current_client_id(),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    project_id  uuid NOT NULL,
    title       text NOT NULL,
    done        boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, id)
);
SELECT dbcore.enable_tenant_scoping('tasks');
SELECT dbcore.attach_updated_at('tasks');
ALTER TABLE tasks ADD FOREIGN KEY (client_id, project_id) REFERENCES projects ON DELETE CASCADE;
CREATE INDEX tasks_project_idx ON tasks (client_id, project_id);

-- Down Migration
DROP TABLE tasks;
