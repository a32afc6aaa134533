package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// The histogram keeps values below 2^subBits exactly and above that in
// buckets subBits-1 bits wide, like HdrHistogram: every power of two is split
// into halfCount equal buckets, so a bucket's width is at most 1/64 of its
// lower bound and the reported midpoint is within 1/128 (0.8%) of any value
// in it. A value is a duration in nanoseconds, so values below 128ns are
// exact, and every non-negative int64 fits in a fixed 29 KiB.
const (
	subBits    = 7
	subCount   = 1 << subBits                      // values below this are their own bucket
	halfCount  = subCount / 2                      // buckets per power of two above subCount
	numBuckets = subCount + (63-subBits)*halfCount // int64 values have at most 63 bits
)

// Histogram records durations in bounded memory and answers percentiles
// with at most 0.8% relative error. The zero value is empty and ready; it
// is not safe for concurrent use, so give each goroutine its own and Merge
// them.
type Histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	min, max int64
	sum      float64
}

// bucketOf returns the bucket index of v >= 0.
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits // >= 1
	top := int(v >> shift)                   // in [halfCount, subCount)
	return subCount + (shift-1)*halfCount + top - halfCount
}

// bucketBounds returns the smallest value of bucket i and its width.
func bucketBounds(i int) (lo, width int64) {
	if i < subCount {
		return int64(i), 1
	}
	shift := (i-subCount)/halfCount + 1
	top := int64((i-subCount)%halfCount + halfCount)
	return top << shift, int64(1) << shift
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest value recorded, or 0.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max returns the largest value recorded, or 0.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the average value, or 0.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the nearest-rank q-quantile (0 < q <= 1): the smallest
// recorded value v such that at least q of all values are <= v, as the
// midpoint of its bucket, clamped to [Min, Max]. It returns 0 when the
// histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, width := bucketBounds(i)
			mid := lo + (width-1)/2
			return time.Duration(min(max(mid, h.min), h.max))
		}
	}
	return time.Duration(h.max) // unreachable: the counts add up to n
}
