-- Messages of a conversation; the foreign keys include the client column,
-- so a message can only point at its own client's conversation and user.
CREATE TABLE messages (
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    client_id        uuid NOT NULL,
    conversation_id  uuid NOT NULL,
    author_id        uuid,
    body             text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, id),
    FOREIGN KEY (client_id, conversation_id) REFERENCES conversations (client_id, id) ON DELETE CASCADE,
    FOREIGN KEY (client_id, author_id) REFERENCES users (client_id, id)
);
SELECT dbcore.attach_updated_at('messages');
SELECT dbcore.enable_tenant_scoping('messages');
-- migrate:down
DROP TABLE messages;
