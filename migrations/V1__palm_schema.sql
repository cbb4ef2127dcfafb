-- Palm AI's application schema: the five tables the app reads and writes.
-- Indexes here are only those that back a constraint or a foreign key; the query-driven
-- indexes come in later migrations, built CONCURRENTLY.

CREATE TYPE preorder_status AS ENUM (
    'initiated', 'processing', 'completed', 'failed', 'refunded', 'cancelled'
);

CREATE TYPE analysis_status AS ENUM (
    'pending', 'processing', 'completed', 'failed'
);

CREATE TYPE webhook_status AS ENUM (
    'received', 'processed', 'failed'
);

CREATE TABLE users (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    email       text        NOT NULL CHECK (email <> '' AND email = btrim(email)),
    name        text,
    role        text        NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One account per address whatever its case; also serves the case-insensitive email lookup.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE preorders (
    id                        bigint          GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id                   uuid            NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    status                    preorder_status NOT NULL DEFAULT 'initiated',
    -- Money is kept in the smallest currency unit (cents), never as a float.
    stripe_amount             integer         NOT NULL CHECK (stripe_amount >= 0),
    currency                  text            NOT NULL DEFAULT 'usd' CHECK (currency ~ '^[a-z]{3}$'),
    stripe_session_id         text            UNIQUE,
    stripe_payment_intent_id  text,
    customer_email            text,
    created_at                timestamptz     NOT NULL DEFAULT now(),
    updated_at                timestamptz     NOT NULL DEFAULT now()
);

CREATE INDEX preorders_user_id_idx ON preorders (user_id);

CREATE TABLE palm_analysis_sessions (
    id             bigint          GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        uuid            NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status         analysis_status NOT NULL DEFAULT 'pending',
    analysis_type  text            NOT NULL DEFAULT 'basic'
                                   CHECK (analysis_type IN ('basic', 'detailed', 'compatibility')),
    result         jsonb,
    error_message  text,
    created_at     timestamptz     NOT NULL DEFAULT now(),
    updated_at     timestamptz     NOT NULL DEFAULT now(),
    completed_at   timestamptz,
    CHECK (status <> 'completed' OR completed_at IS NOT NULL)
);

CREATE INDEX palm_analysis_sessions_user_id_idx ON palm_analysis_sessions (user_id);

CREATE TABLE user_images (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id  bigint      REFERENCES palm_analysis_sessions (id) ON DELETE SET NULL,
    image_url   text        NOT NULL,
    hand        text        NOT NULL DEFAULT 'right' CHECK (hand IN ('left', 'right')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX user_images_user_id_idx ON user_images (user_id);
CREATE INDEX user_images_session_id_idx ON user_images (session_id);

CREATE TABLE webhook_logs (
    id            bigint         GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider      text           NOT NULL DEFAULT 'stripe',
    event_id      text           NOT NULL,
    event_type    text           NOT NULL,
    payload       jsonb          NOT NULL,
    status        webhook_status NOT NULL DEFAULT 'received',
    attempts      integer        NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error_message text,
    created_at    timestamptz    NOT NULL DEFAULT now(),
    processed_at  timestamptz,
    -- Providers retry deliveries; the same event must be stored once.
    UNIQUE (provider, event_id)
);
