-- wrk script for `make bench-chat`: one chat message, a new conversation each time, to the
-- seeds' route POST /api/{user_id}/chat (Bollard and the FastAPI peer alike).
-- Env: BENCH_TOKEN (an access token from POST /api/auth/signup), BENCH_USER_ID (its user's id).
local token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set")
local user = os.getenv("BENCH_USER_ID") or error("BENCH_USER_ID is not set")
wrk.method = "POST"
wrk.path = "/api/" .. user .. "/chat"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"message":"what is on my list?"}'
