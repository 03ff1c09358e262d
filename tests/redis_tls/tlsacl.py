"""The ACL user this suite creates on its Redis servers (a module of its own: `conftest` is a name
every suite has)."""
ACL_USER, ACL_PASSWORD = "bollard-app", "app-pass-0123"
