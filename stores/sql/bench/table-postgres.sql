-- connect-session-knex's PostgreSQL table, as this store creates it.
CREATE TABLE "sessions" ("sid" varchar(255) NOT NULL, "sess" json NOT NULL, "expired" timestamptz NOT NULL, PRIMARY KEY ("sid"));
CREATE INDEX ON "sessions" ("expired");
