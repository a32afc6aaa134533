package loadgen

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestHistogramSmallValuesAreExact(t *testing.T) {
	var h Histogram
	for v := 100; v >= 1; v-- { // order must not matter
		h.Record(time.Duration(v))
	}
	tests := map[string]struct {
		q    float64
		want time.Duration
	}{
		"p1":    {0.01, 1},
		"p50":   {0.50, 50},
		"p99":   {0.99, 99},
		"p99.9": {0.999, 100}, // nearest rank: ceil(99.9) = 100th value
		"max":   {1, 100},
		"q=0":   {0, 1}, // rank clamps to the first value
	}
	for name, tc := range tests {
		if got := h.Quantile(tc.q); got != tc.want {
			t.Errorf("%s: Quantile(%v) = %v, want %v", name, tc.q, got, tc.want)
		}
	}
	if h.Count() != 100 || h.Min() != 1 || h.Max() != 100 || h.Mean() != 50 {
		t.Errorf("Count, Min, Max, Mean = %d, %v, %v, %v", h.Count(), h.Min(), h.Max(), h.Mean())
	}
}

// TestHistogramKnownDistribution records 1µs..100ms in 1µs steps, whose
// nearest-rank quantiles are known exactly, and checks the error bound.
func TestHistogramKnownDistribution(t *testing.T) {
	var h Histogram
	const n = 100_000
	for i := 1; i <= n; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
		want := time.Duration(math.Ceil(q*n)) * time.Microsecond
		got := h.Quantile(q)
		if rel := math.Abs(float64(got-want)) / float64(want); rel > 1.0/128 {
			t.Errorf("Quantile(%v) = %v, want %v ± 0.8%% (off by %.2f%%)", q, got, want, rel*100)
		}
	}
}

func TestHistogramConstantIsExact(t *testing.T) {
	var h Histogram
	for range 1000 {
		h.Record(1234567 * time.Nanosecond)
	}
	// The bucket midpoint is clamped to [Min, Max], so a constant is exact.
	for _, q := range []float64{0.5, 0.99, 0.999} {
		if got := h.Quantile(q); got != 1234567 {
			t.Errorf("Quantile(%v) = %v, want 1.234567ms", q, got)
		}
	}
}

func TestHistogramEmptyAndNegative(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Errorf("empty histogram: Quantile %v, Mean %v, Count %d", h.Quantile(0.5), h.Mean(), h.Count())
	}
	h.Record(-time.Second)
	if h.Quantile(1) != 0 || h.Min() != 0 {
		t.Errorf("a negative duration should count as 0, got %v", h.Quantile(1))
	}
}

func TestHistogramMergeEqualsRecordingAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var all, a, b Histogram
	for i := range 10_000 {
		d := time.Duration(rng.Int64N(int64(50 * time.Millisecond)))
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var merged Histogram
	merged.Merge(&a)
	merged.Merge(&Histogram{}) // merging an empty one changes nothing
	merged.Merge(&b)
	if merged.counts != all.counts || merged.Count() != all.Count() || merged.Min() != all.Min() || merged.Max() != all.Max() {
		t.Fatal("merged histogram differs from one that recorded every value")
	}
	if merged.Quantile(0.99) != all.Quantile(0.99) {
		t.Errorf("p99 merged %v, all %v", merged.Quantile(0.99), all.Quantile(0.99))
	}
}

// TestBucketBounds checks that every value falls inside the bucket it is
// counted in, that buckets are no wider than 1/64 of their lower bound, and
// that the largest duration fits.
func TestBucketBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	values := []int64{0, 1, subCount - 1, subCount, subCount + 1, 1<<20 - 1, 1 << 20, math.MaxInt64}
	for range 10_000 {
		values = append(values, rng.Int64N(math.MaxInt64)>>rng.IntN(63))
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, numBuckets)
		}
		lo, width := bucketBounds(i)
		if v < lo || v-lo >= width {
			t.Fatalf("value %d in bucket %d = [%d, %d+%d)", v, i, lo, lo, width)
		}
		if lo >= subCount && width > lo/halfCount {
			t.Fatalf("bucket %d = [%d, +%d) is wider than 1/%d of its bound", i, lo, width, halfCount)
		}
	}
}
