-- Platform billing (issue 13, item 9): the operator's books are a tenant like any other,
-- marked `platform`. It holds the platform plans, whose usage charges price platform meters
-- (events, ingested_gb, stored_gb_hours, api_queries) rather than meters of its own, and a
-- customer per tenant billed, whose one subject is that tenant's id. There is at most one.
ALTER TABLE tenants ADD COLUMN platform boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX tenants_one_platform ON tenants (platform) WHERE platform;
