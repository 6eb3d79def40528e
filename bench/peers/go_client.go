// go_client.go - the Prometheus Go client (client_golang, Debian's
// golang-github-prometheus-client-golang-dev) as a peer of vitals in the
// benchmarks: what a user who picks it instead pays to record and to serve.
//
// Built offline in GOPATH mode from the packaged sources (bench/peers/
// bench_peers.sh does it):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$(mktemp -d) \
//	    go build -o go_client bench/peers/go_client.go
//
// The metric sets (the same in python_client.py and bench_common.c's
// bench_peer_registry, so that every server answers the same series):
//
//	peers50  20 counters peer_requests_NN_total (value (NN+1)*1000), 20
//	         gauges peer_inflight_NN (NN*1.5), 10 histograms
//	         peer_latency_NN_seconds (default buckets, 100 observations
//	         1e-4 * 1.1^k, k = 0..99); no labels.
//	mix1000  100 families of 10 series, label k="0".."9"; family f is a
//	         counter bench_requests_FFFFFF_total (one inc per series) for
//	         f%10 < 6, a gauge bench_inflight_FFFFFF (set to the series
//	         index) for f%10 < 9, else a histogram
//	         bench_latency_seconds_FFFFFF (8 observations per series).
//
// Modes:
//
//	record  Counter.Inc and Histogram.Observe on the peers50 set, for each
//	        thread count of --threads: T goroutines, each locked to its OS
//	        thread (runtime.LockOSThread), GOMAXPROCS = T, with --pin thread
//	        i on CPU i % ncpu; all on one series ("one") and thread i on
//	        series i ("disjoint"). Each thread runs chunks of 4096 calls
//	        until --duration-ms passed since the common start, then the
//	        total rate is every thread's calls over the union of the
//	        windows and ns/op per thread is T / rate (bench_metrics'
//	        definition). --reps repeats after one warm-up; median, min,
//	        max. Histogram inputs: 16384 log-normal latencies (median 1 ms,
//	        sigma 2, clamped to 1 us..100 s) made before timing. Rows on
//	        stdout:
//	          rec,go,<counter_inc|hist_observe>,<one|disjoint>,<threads>,
//	              <ns/op med>,<min>,<max>,<best>
//	        (best: the fastest chunk's ns/op, the noise floor, as in
//	        bench_metrics)
//	        and the registry's totals are checked against the calls made.
//	serve   the set of --set on promhttp.HandlerFor (its own registry, no
//	        Go runtime collectors) at http://127.0.0.1:PORT/metrics, PORT
//	        free; prints port=PORT, bytes=<body size> and ready, serves
//	        until SIGTERM/SIGINT. GOMAXPROCS = --procs (default 1: one
//	        CPU, as the other servers get under bench_peers.sh --pin).
//	--smoke short runs; serve answers one request itself and exits.
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

const chunk = 4096
const nvals = 16384

type peerSet struct {
	reg      *prometheus.Registry
	counters []prometheus.Counter
	gauges   []prometheus.Gauge
	hists    []prometheus.Histogram
}

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "go_client: "+format+"\n", a...)
	os.Exit(1)
}

// buildPeers50 registers the peers50 set; record leaves the values at
// zero (the totals are then checked), serve fills them.
func buildPeers50(fill bool) *peerSet {
	s := &peerSet{reg: prometheus.NewRegistry()}
	for i := 0; i < 20; i++ {
		c := prometheus.NewCounter(prometheus.CounterOpts{
			Name: fmt.Sprintf("peer_requests_%02d_total", i), Help: "Requests"})
		s.reg.MustRegister(c)
		s.counters = append(s.counters, c)
		g := prometheus.NewGauge(prometheus.GaugeOpts{
			Name: fmt.Sprintf("peer_inflight_%02d", i), Help: "In flight"})
		s.reg.MustRegister(g)
		s.gauges = append(s.gauges, g)
		if fill {
			c.Add(float64((i + 1) * 1000))
			g.Set(float64(i) * 1.5)
		}
	}
	for i := 0; i < 10; i++ {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: fmt.Sprintf("peer_latency_%02d_seconds", i), Help: "Latency",
			Buckets: prometheus.DefBuckets})
		s.reg.MustRegister(h)
		s.hists = append(s.hists, h)
		if fill {
			for k := 0; k < 100; k++ {
				h.Observe(1e-4 * math.Pow(1.1, float64(k)))
			}
		}
	}
	return s
}

// buildMix1000 registers and fills the mix1000 set.
func buildMix1000() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	for f := 0; f < 100; f++ {
		switch k := f % 10; {
		case k < 6:
			v := prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: fmt.Sprintf("bench_requests_%06d_total", f), Help: "help"},
				[]string{"k"})
			reg.MustRegister(v)
			for j := 0; j < 10; j++ {
				v.WithLabelValues(strconv.Itoa(j)).Inc()
			}
		case k < 9:
			v := prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Name: fmt.Sprintf("bench_inflight_%06d", f), Help: "help"},
				[]string{"k"})
			reg.MustRegister(v)
			for j := 0; j < 10; j++ {
				v.WithLabelValues(strconv.Itoa(j)).Set(float64(f*10 + j))
			}
		default:
			v := prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name: fmt.Sprintf("bench_latency_seconds_%06d", f), Help: "help",
				Buckets: prometheus.DefBuckets}, []string{"k"})
			reg.MustRegister(v)
			for j := 0; j < 10; j++ {
				o := v.WithLabelValues(strconv.Itoa(j))
				for n := 0; n < 8; n++ {
					i := (f*10+j)*8 + n
					o.Observe(1e-4 * math.Pow(1.1, float64(i%100)))
				}
			}
		}
	}
	return reg
}

// pinSelf binds the calling OS thread to cpu % ncpu (sched_setaffinity).
func pinSelf(cpu int) {
	n := runtime.NumCPU()
	var mask [16]uint64
	c := cpu % n
	mask[c/64] |= 1 << uint(c%64)
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0,
		uintptr(len(mask)*8), uintptr(unsafe.Pointer(&mask[0])))
	if e != 0 {
		die("sched_setaffinity: %v", e)
	}
}

type window struct {
	start, end time.Time
	ops        int64
	best       time.Duration // the fastest chunk
}

// timed runs body(thread, calls) in chunks on T locked (and pinned)
// threads for dur; returns ns/op per thread (T / total rate), the
// fastest chunk's ns/op (the noise floor) and the calls made.
func timed(threads int, pin bool, dur time.Duration,
	body func(t int, n int)) (float64, float64, int64) {
	runtime.GOMAXPROCS(threads)
	var ready, done sync.WaitGroup
	ready.Add(threads)
	done.Add(threads)
	goCh := make(chan struct{})
	win := make([]window, threads)
	for t := 0; t < threads; t++ {
		go func(t int) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			defer done.Done()
			if pin {
				pinSelf(t)
			}
			ready.Done()
			<-goCh
			w := &win[t]
			w.start = time.Now()
			deadline := w.start.Add(dur)
			w.best = time.Hour
			for c0 := w.start; ; {
				body(t, chunk)
				w.ops += chunk
				now := time.Now()
				if d := now.Sub(c0); d < w.best {
					w.best = d
				}
				c0 = now
				if !now.Before(deadline) {
					w.end = now
					break
				}
			}
		}(t)
	}
	ready.Wait()
	close(goCh)
	done.Wait()
	first, last := win[0].start, win[0].end
	best := win[0].best
	var ops int64
	for _, w := range win {
		if w.best < best {
			best = w.best
		}
		if w.start.Before(first) {
			first = w.start
		}
		if w.end.After(last) {
			last = w.end
		}
		ops += w.ops
	}
	rate := float64(ops) / float64(last.Sub(first).Nanoseconds())
	return float64(threads) / rate, float64(best.Nanoseconds()) / chunk, ops
}

func stats(v []float64) (med, min, max float64) {
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		med = v[n/2]
	} else {
		med = (v[n/2-1] + v[n/2]) / 2
	}
	return med, v[0], v[n-1]
}

func lognormals() []float64 {
	r := rand.New(rand.NewSource(42))
	v := make([]float64, nvals)
	for i := range v {
		x := 1e-3 * math.Exp(2*r.NormFloat64())
		v[i] = math.Min(math.Max(x, 1e-6), 100)
	}
	return v
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		die("counter write: %v", err)
	}
	return m.GetCounter().GetValue()
}

func histCount(h prometheus.Histogram) uint64 {
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		die("histogram write: %v", err)
	}
	return m.GetHistogram().GetSampleCount()
}

func record(threadList []int, reps int, dur time.Duration, pin bool) {
	vals := lognormals()
	for _, op := range []string{"counter_inc", "hist_observe"} {
		for _, mode := range []string{"one", "disjoint"} {
			for _, T := range threadList {
				if mode == "disjoint" && T > 10 {
					continue // 10 histograms in the set
				}
				ns := make([]float64, 0, reps)
				best := math.Inf(1)
				for r := -1; r < reps; r++ {
					s := buildPeers50(false)
					series := func(t int) int {
						if mode == "one" {
							return 0
						}
						return t
					}
					var body func(t, n int)
					if op == "counter_inc" {
						body = func(t, n int) {
							c := s.counters[series(t)]
							for i := 0; i < n; i++ {
								c.Inc()
							}
						}
					} else {
						body = func(t, n int) {
							h := s.hists[series(t)]
							j := t * 1031
							for i := 0; i < n; i++ {
								h.Observe(vals[(j+i)&(nvals-1)])
							}
						}
					}
					x, b, ops := timed(T, pin, dur, body)
					// The registry must hold every call.
					var got float64
					for i := 0; i < 10; i++ {
						if op == "counter_inc" {
							got += counterValue(s.counters[i])
						} else {
							got += float64(histCount(s.hists[i]))
						}
					}
					if got != float64(ops) {
						die("%s %s %d threads: registry holds %.0f, %d calls made",
							op, mode, T, got, ops)
					}
					if r >= 0 {
						ns = append(ns, x)
						best = math.Min(best, b)
					}
				}
				med, min, max := stats(ns)
				fmt.Printf("rec,go,%s,%s,%d,%.4f,%.4f,%.4f,%.4f\n", op, mode, T,
					med, min, max, best)
				fmt.Fprintf(os.Stderr, "go_client: %s %s %d threads: %.2f ns/op per thread\n",
					op, mode, T, med)
			}
		}
	}
}

func serve(set string, procs int, smoke bool) {
	runtime.GOMAXPROCS(procs)
	var reg *prometheus.Registry
	switch set {
	case "peers50":
		reg = buildPeers50(true).reg
	case "mix1000":
		reg = buildMix1000()
	default:
		die("unknown set %q (peers50, mix1000)", set)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		die("listen: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: mux}
	go func() {
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			die("serve: %v", err)
		}
	}()
	res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		die("GET /metrics: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 {
		die("GET /metrics: status %d, %v", res.StatusCode, err)
	}
	want := map[string]int{"peers50": 50, "mix1000": 1000}[set]
	if n := countSeries(string(body)); n != want {
		die("GET /metrics: %d series, want %d", n, want)
	}
	fmt.Printf("port=%d\nbytes=%d\nready\n", port, len(body))
	if smoke {
		srv.Close()
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	srv.Close()
}

// countSeries counts the series of a text exposition: samples, with a
// histogram's _bucket/_sum/_count lines counted as one series (its _count).
func countSeries(body string) int {
	n := 0
	for _, l := range strings.Split(body, "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		name := l
		if i := strings.IndexAny(l, "{ "); i >= 0 {
			name = l[:i]
		}
		if strings.HasSuffix(name, "_bucket") || strings.HasSuffix(name, "_sum") {
			continue
		}
		n++
	}
	return n
}

func main() {
	if len(os.Args) < 2 {
		die("usage: go_client record|serve [options] (--help)")
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	threads := fs.String("threads", "1,2", "record: thread counts")
	reps := fs.Int("reps", 5, "record: repeats per figure")
	durMs := fs.Int("duration-ms", 300, "record: timed window per repeat")
	pin := fs.Bool("pin", false, "record: thread i on CPU i % ncpu")
	set := fs.String("set", "peers50", "serve: peers50 or mix1000")
	procs := fs.Int("procs", 1, "serve: GOMAXPROCS")
	smoke := fs.Bool("smoke", false, "short runs")
	fs.Parse(os.Args[2:])
	switch mode {
	case "record":
		var list []int
		for _, f := range strings.Split(*threads, ",") {
			t, err := strconv.Atoi(f)
			if err != nil || t < 1 || t > 256 {
				die("bad --threads %q", *threads)
			}
			list = append(list, t)
		}
		if *smoke {
			*reps, *durMs = 1, 20
		}
		record(list, *reps, time.Duration(*durMs)*time.Millisecond, *pin)
	case "serve":
		serve(*set, *procs, *smoke)
	default:
		die("unknown mode %q (record, serve)", mode)
	}
}
