package sampler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the sampler's Prometheus series, registered on the node's registry. A nil
// *metrics records nothing (caches built outside a service).
type metrics struct {
	hits, misses prometheus.Counter
	cacheBytes   prometheus.Gauge
	cacheEntries prometheus.Gauge
	loadSeconds  prometheus.Histogram
	queueDepth   prometheus.Gauge
	rejected     prometheus.Counter
	batchRows    prometheus.Histogram
	images       prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		hits: prometheus.NewCounter(prometheus.CounterOpts{Name: "latexblend_sampler_concept_cache_hits_total",
			Help: "Concept lookups served from the sampler's cache."}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{Name: "latexblend_sampler_concept_cache_misses_total",
			Help: "Concept lookups that fetched the entry from the bank."}),
		cacheBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "latexblend_sampler_concept_cache_bytes",
			Help: "Decoded bytes of the cached concept entries."}),
		cacheEntries: prometheus.NewGauge(prometheus.GaugeOpts{Name: "latexblend_sampler_concept_cache_entries",
			Help: "Concept entries in the cache."}),
		loadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "latexblend_sampler_concept_load_seconds",
			Help:    "Time to fetch, verify and decode a concept entry from the bank.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "latexblend_sampler_queue_depth",
			Help: "Requests admitted and not finished (queued plus running)."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "latexblend_sampler_rejected_total",
			Help: "Requests refused with ResourceExhausted because the queue was full."}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "latexblend_sampler_unet_batch_rows",
			Help: "UNet batch rows per denoising batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 8)}),
		images: prometheus.NewCounter(prometheus.CounterOpts{Name: "latexblend_sampler_images_total",
			Help: "Images generated."}),
	}
	if reg != nil {
		reg.MustRegister(m.hits, m.misses, m.cacheBytes, m.cacheEntries, m.loadSeconds, m.queueDepth, m.rejected, m.batchRows, m.images)
	}
	return m
}

func (m *metrics) cacheHit() {
	if m != nil {
		m.hits.Inc()
	}
}

func (m *metrics) cacheMiss() {
	if m != nil {
		m.misses.Inc()
	}
}

func (m *metrics) observeLoad(d time.Duration) {
	if m != nil {
		m.loadSeconds.Observe(d.Seconds())
	}
}

func (m *metrics) setCache(bytes int64, entries int) {
	if m != nil {
		m.cacheBytes.Set(float64(bytes))
		m.cacheEntries.Set(float64(entries))
	}
}
