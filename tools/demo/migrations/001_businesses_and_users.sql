-- The tenants (dbcore calls them clients) and their users.  Every table has
-- created_at / updated_at; dbcore keeps updated_at current.
CREATE TABLE businesses (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    plan        text NOT NULL DEFAULT 'free',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT dbcore.attach_updated_at('businesses');

-- client_id: the business a row belongs to.  Tenant-scoped: readable and
-- writable only inside that client's scope.
CREATE TABLE users (
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    client_id    uuid NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    email        text NOT NULL,
    display_name text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, id),
    UNIQUE (client_id, email)
);
SELECT dbcore.attach_updated_at('users');
SELECT dbcore.enable_tenant_scoping('users');
-- migrate:down
DROP TABLE users;
DROP TABLE businesses;
