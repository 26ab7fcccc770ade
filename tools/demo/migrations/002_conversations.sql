-- Support conversations, one client's each.
CREATE TABLE conversations (
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    client_id    uuid NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    title        text NOT NULL,
    status       text NOT NULL DEFAULT 'open',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, id)
);
SELECT dbcore.attach_updated_at('conversations');
SELECT dbcore.enable_tenant_scoping('conversations');
-- migrate:down
DROP TABLE conversations;
