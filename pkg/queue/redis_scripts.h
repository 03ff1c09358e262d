/* The Redis back-end's Lua scripts (atomic multi-key steps). Loaded with SCRIPT LOAD on every connection of
 * the command connection and run with EVALSHA. Times come from Redis (TIME), so workers with skewed
 * clocks agree on when a retry is due. XACK goes through redis.pcall: a stream lost with Redis'
 * data (NOGROUP) must not abort a script half-way (Redis does not roll back a failed script). */
#ifndef BOLLARD_QUEUE_REDIS_SCRIPTS_H
#define BOLLARD_QUEUE_REDIS_SCRIPTS_H

enum {
    SCRIPT_RETRY,
    SCRIPT_DEAD,
    SCRIPT_PROMOTE,
    SCRIPT_REQUEUE,
    SCRIPT_RENEW,
    SCRIPT_TRIM,
    SCRIPT_REPORT,
    SCRIPT_COUNT
};

#define LUA_NOW_MS                                                                                           \
    "local t = redis.call('TIME')\n"                                                                         \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* KEYS: jobs stream, retry set. ARGV: group, entry id, delay ms, member (JSON job). */
#define LUA_RETRY                                                                                            \
    LUA_NOW_MS                                                                                               \
    "redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[4])\n"                                        \
    "redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[2])\n"                                                       \
    "return 1\n"

/* KEYS: jobs stream, dead stream. ARGV: group, entry id, maxlen, field/value pairs. */
#define LUA_DEAD                                                                                             \
    "local fields = {}\n"                                                                                    \
    "for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end\n"                                                \
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(fields))\n"                             \
    "redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[2])\n"                                                       \
    "return 1\n"

/* KEYS: jobs stream, retry set. ARGV: max jobs. Moves due retries back into the stream. */
#define LUA_PROMOTE                                                                                          \
    LUA_NOW_MS                                                                                               \
    "local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))\n"         \
    "for _, m in ipairs(due) do\n"                                                                           \
    "  local ok, j = pcall(cjson.decode, m)\n"                                                               \
    "  if ok and type(j) == 'table' and type(j.event_id) == 'string' and type(j.endpoint_id) == 'string'\n"  \
    "     and type(j.type) == 'string' and type(j.attempt) == 'string' and type(j.body) == 'string' then\n"  \
    "    redis.call('XADD', KEYS[1], '*', 'event_id', j.event_id, 'endpoint_id', j.endpoint_id,\n"           \
    "               'type', j.type, 'attempt', j.attempt, 'body', j.body)\n"                                 \
    "  end\n"                                                                                                \
    "  redis.call('ZREM', KEYS[2], m)\n"                                                                     \
    "end\n"                                                                                                  \
    "return #due\n"

/* KEYS: jobs stream. ARGV: group, consumer, entry id, event_id, endpoint_id, type, attempt, body.
 * Hands a job back (new entry, old one acked) only while this consumer still owns it. */
#define LUA_REQUEUE                                                                                          \
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])\n"                     \
    "if #p == 0 then return 0 end\n"                                                                         \
    "redis.call('XADD', KEYS[1], '*', 'event_id', ARGV[4], 'endpoint_id', ARGV[5], 'type', ARGV[6],\n"       \
    "           'attempt', ARGV[7], 'body', ARGV[8])\n"                                                      \
    "redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])\n"                                                        \
    "return 1\n"

/* KEYS: jobs stream. ARGV: group, consumer, entry ids. Resets the idle time of the entries this
 * consumer still owns (its lease), so a long delivery is not reclaimed by another worker; an entry
 * another consumer has taken meanwhile is left alone. */
#define LUA_RENEW                                                                                            \
    "local n = 0\n"                                                                                          \
    "for i = 3, #ARGV do\n"                                                                                  \
    "  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])\n"                   \
    "  if #p == 1 then\n"                                                                                    \
    "    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')\n"                            \
    "    n = n + 1\n"                                                                                        \
    "  end\n"                                                                                                \
    "end\n"                                                                                                  \
    "return n\n"

/* KEYS: jobs stream. Trims acknowledged entries only: MINID = the smallest of, over every group,
 * its oldest pending id (or, with nothing pending, its last-delivered id). Redis 7's plain
 * MAXLEN/MINID would also drop pending and unread entries. "~" removes whole nodes only, never
 * past the threshold. */
#define LUA_TRIM                                                                                             \
    "local function parse(id)\n"                                                                             \
    "  local ms, seq = string.match(id, '^(%d+)-(%d+)$')\n"                                                  \
    "  return tonumber(ms), tonumber(seq)\n"                                                                 \
    "end\n"                                                                                                  \
    "local function less(a, b)\n"                                                                            \
    "  local am, as = parse(a)\n"                                                                            \
    "  local bm, bs = parse(b)\n"                                                                            \
    "  return am < bm or (am == bm and as < bs)\n"                                                           \
    "end\n"                                                                                                  \
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"                                              \
    "local groups = redis.call('XINFO', 'GROUPS', KEYS[1])\n"                                                \
    "if #groups == 0 then return 0 end\n"                                                                    \
    "local floor = nil\n"                                                                                    \
    "for _, g in ipairs(groups) do\n"                                                                        \
    "  local name, pending, last\n"                                                                          \
    "  for i = 1, #g, 2 do\n"                                                                                \
    "    if g[i] == 'name' then name = g[i + 1]\n"                                                           \
    "    elseif g[i] == 'pending' then pending = g[i + 1]\n"                                                 \
    "    elseif g[i] == 'last-delivered-id' then last = g[i + 1] end\n"                                      \
    "  end\n"                                                                                                \
    "  local keep = last\n"                                                                                  \
    "  if pending > 0 then keep = redis.call('XPENDING', KEYS[1], name)[2] end\n"                            \
    "  if floor == nil or less(keep, floor) then floor = keep end\n"                                         \
    "end\n"                                                                                                  \
    "if floor == nil or floor == '0-0' then return 0 end\n"                                                  \
    "return redis.call('XTRIM', KEYS[1], 'MINID', '~', floor)\n"

/* KEYS: this worker's figures hash, the workers set. ARGV: ttl ms, consumer, then field/value pairs,
 * or ARGV[1] "gone" and the consumer alone: the figures are removed (a clean stop). The report's
 * time is Redis's, so the API's ages do not depend on the workers' clocks; entries of the set older
 * than twice the TTL (workers that died) are dropped on the way. */
#define LUA_REPORT                                                                                           \
    "if ARGV[1] == 'gone' then\n"                                                                            \
    "  redis.call('DEL', KEYS[1])\n"                                                                         \
    "  redis.call('ZREM', KEYS[2], ARGV[2])\n"                                                               \
    "  return 0\n"                                                                                           \
    "end\n" LUA_NOW_MS "local ttl = tonumber(ARGV[1])\n"                                                     \
    "local f = {'unix_ms', now}\n"                                                                           \
    "for i = 3, #ARGV do f[#f + 1] = ARGV[i] end\n"                                                          \
    "redis.call('HSET', KEYS[1], unpack(f))\n"                                                               \
    "redis.call('PEXPIRE', KEYS[1], ttl)\n"                                                                  \
    "redis.call('ZADD', KEYS[2], now, ARGV[2])\n"                                                            \
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 2 * ttl)\n"                                       \
    "return 1\n"

#endif
