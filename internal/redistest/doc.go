// Package redistest starts real redis-server processes for tests: a
// standalone server (Start), a Redis Cluster (StartCluster) or a Sentinel
// deployment of a master, its replicas and one sentinel (StartSentinel),
// each on free loopback ports in the test's temporary directory, stopped
// when the test ends.
//
// Tests that use it are integration tests, yet they are never skipped: when
// redis-server is missing the test fails with the command that installs it.
// Nothing is persisted (save "" and appendonly no), so a restarted server
// comes back empty; a restarted cluster node keeps its identity through its
// nodes.conf.
//
// Each server's output goes to redis.log in its directory, and the tail of
// that log is included in every failure message from this package.
package redistest
