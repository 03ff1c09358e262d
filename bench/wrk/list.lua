-- wrk script for `make bench-tasks`: list the newest 20 tasks of the token's user.
-- Env: BENCH_TOKEN (an access token from POST /api/auth/signup).
local token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set")
wrk.method = "GET"
wrk.path = "/api/tasks?limit=20"
wrk.headers["Authorization"] = "Bearer " .. token
