-- Up Migration
-- A seed-style table, scoped by dbcore: only the current client's rows are
-- visible and writable, and updated_at moves on every UPDATE.  client_id
-- defaults to the client scope (dbcore's row guard would fill it in anyway;
-- the default is what the ORMs' schemas declare).
CREATE TABLE projects (
    client_id   uuid NOT NULL DEFAULT dbcore.current_client_id(),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, id)
);
SELECT dbcore.enable_tenant_scoping('projects');
SELECT dbcore.attach_updated_at('projects');

-- Down Migration
DROP TABLE projects;
