package watch

import (
	"sync"
	"time"
)

// cache keeps values the agent would otherwise read from /proc on every
// event (a process's snapshot, its parents, user names). It is bounded:
// past 4096 entries it starts afresh.
type cache[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]cached[V]
}

type cached[V any] struct {
	v  V
	at time.Time
}

// get returns the value cached less than ttl ago (0: until forgotten),
// or loads it and keeps it when keep says it is worth keeping (a
// process already gone is not).
func (c *cache[K, V]) get(k K, ttl time.Duration, load func() V, keep func(V) bool) V {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && (ttl == 0 || now.Sub(e.at) < ttl) {
		return e.v
	}
	v := load()
	if keep == nil || keep(v) {
		c.put(k, v)
	}
	return v
}

func (c *cache[K, V]) forget(k K) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

// peek returns the value cached less than ttl ago, without loading.
func (c *cache[K, V]) peek(k K, ttl time.Duration) (V, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok || time.Since(e.at) >= ttl {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put caches v now.
func (c *cache[K, V]) put(k K, v V) {
	c.mu.Lock()
	if c.m == nil || len(c.m) > 4096 {
		c.m = map[K]cached[V]{}
	}
	c.m[k] = cached[V]{v, time.Now()}
	c.mu.Unlock()
}
