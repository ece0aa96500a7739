package detpunch

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// shared reports whether two sides' bucket sets have a bucket in common.
func shared(a, b [2]int64) bool {
	return slices.Contains(b[:], a[0]) || slices.Contains(b[:], a[1])
}

// TestDoubleBuckets sweeps start times over two whole windows, start gaps
// over the whole run window and clock differences over the whole maximum
// error (both signs, both ends included), and checks that the two sides
// always share a bucket, while the seed's single bucket does not always
// agree (so the sweep can fail).
func TestDoubleBuckets(t *testing.T) {
	for _, tc := range []struct{ maxErr, run time.Duration }{
		{DefaultMaxClockError, DefaultRunWindow},
		{DefaultMaxClockError, DefaultMaxClockError + 2*time.Second}, // the largest run window allowed
		{2 * time.Second, 2 * time.Second},
		{500 * time.Millisecond, 2500 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("%v-%v", tc.maxErr, tc.run), func(t *testing.T) {
			w := Window(tc.maxErr)
			base := time.Unix(1_700_000_000, 0)
			const steps = 40
			checked, singleMisses := 0, 0
			for ta := time.Duration(0); ta < 2*w; ta += w / 300 {
				a := base.Add(ta)
				for i := -steps; i <= steps; i++ {
					gap := tc.run * time.Duration(i) / steps
					for j := -steps; j <= steps; j++ {
						skew := tc.maxErr * time.Duration(j) / steps
						b := a.Add(gap + skew)
						checked++
						if !shared(Buckets(a, tc.maxErr), Buckets(b, tc.maxErr)) {
							t.Fatalf("no common bucket: clocks %v and %v (gap %v, skew %v): %v and %v",
								a, b, gap, skew, Buckets(a, tc.maxErr), Buckets(b, tc.maxErr))
						}
						if Bucket(a, tc.maxErr) != Bucket(b, tc.maxErr) {
							singleMisses++
						}
					}
				}
			}
			if singleMisses == 0 {
				t.Fatalf("the single bucket agreed in all %d cases: the sweep cannot tell", checked)
			}
			t.Logf("%d cases; the seed's single bucket differs in %d (%.1f%%)", checked, singleMisses, 100*float64(singleMisses)/float64(checked))
		})
	}
}

// TestBucketsLimit checks the bound: clock times a window apart still
// share a bucket, a little more than a window apart they may not.
func TestBucketsLimit(t *testing.T) {
	const e = 2 * time.Second
	w := Window(e)
	// u = (t - e) / w; put a at the middle of a bucket minus a little.
	a := time.Unix(0, 0).Add(e + 1000*w + w/2 - time.Millisecond)
	if !shared(Buckets(a, e), Buckets(a.Add(w), e)) {
		t.Errorf("clock times one window apart share no bucket: %v, %v", Buckets(a, e), Buckets(a.Add(w), e))
	}
	if shared(Buckets(a, e), Buckets(a.Add(w+2*time.Millisecond), e)) {
		t.Errorf("clock times more than a window apart across a bucket's middle share a bucket: %v, %v", Buckets(a, e), Buckets(a.Add(w+2*time.Millisecond), e))
	}
}

// TestBucket checks the seed's formula and the neighbour choice.
func TestBucket(t *testing.T) {
	const e = 20 * time.Second // window 42 s
	for _, tc := range []struct {
		unix    float64
		buckets [2]int64
	}{
		{20, [2]int64{0, -1}},
		{20 + 20.9, [2]int64{0, -1}},
		{20 + 21, [2]int64{0, 1}},
		{20 + 41.999, [2]int64{0, 1}},
		{20 + 42, [2]int64{1, 0}},
		{19.5, [2]int64{-1, 0}},
		{1_795_465_664, [2]int64{42749182, 42749181}},
	} {
		at := time.Unix(0, int64(tc.unix*1e9))
		if got := Buckets(at, e); got != tc.buckets {
			t.Errorf("Buckets(%v s) = %v, want %v", tc.unix, got, tc.buckets)
		}
		if got := Bucket(at, e); got != tc.buckets[0] {
			t.Errorf("Bucket(%v s) = %d, want %d", tc.unix, got, tc.buckets[0])
		}
	}
}
