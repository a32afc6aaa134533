package loadgen

import "errors"

var (
	// ErrUnknownScenario is returned by Start for a name not in Scenarios.
	ErrUnknownScenario = errors.New("loadgen: unknown scenario")
	// ErrNeedRedis is returned by Start for the Redis scenario without
	// Options.RedisAddr.
	ErrNeedRedis = errors.New("loadgen: scenario needs a Redis address")
	// ErrWrongOutcome means a Check was answered, but not the way the
	// scenario expects: the run would measure some other code path.
	ErrWrongOutcome = errors.New("loadgen: unexpected Check outcome")
	// ErrNoRedisServer is returned by StartRedis when redis-server is not
	// installed.
	ErrNoRedisServer = errors.New("loadgen: redis-server not found in PATH")
)
