-- wrk script for `make bench-tasks`: create a task (small JSON body) for the token's user.
-- Env: BENCH_TOKEN (an access token from POST /api/auth/signup).
local token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set")
wrk.method = "POST"
wrk.path = "/api/tasks"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title":"write the weekly report","description":"created by wrk","completed":false}'
