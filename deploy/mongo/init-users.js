// The services' MongoDB user for the production Compose stack, least privilege: readWrite on each
// service's database and nothing else (no admin, no cluster actions; the replica set is initiated by the
// root user in the health check). The image's entry point runs this once, as the root user, when the
// data volume is empty; the password is the secret the services read as CG_MONGO_PASSWORD.
// The database names are the registered services' (tests/test_compose.py checks them against the registry).
const databases = ["facilities", "mapping", "matching", "councils", "training"];
const password = require("fs").readFileSync("/run/secrets/mongo_password", "utf8").trim();
db.getSiblingDB("admin").createUser({
  user: "clustergrowth",
  pwd: password,
  roles: databases.map((name) => ({ role: "readWrite", db: name })),
});
