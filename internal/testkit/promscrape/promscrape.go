// Package promscrape reads a Prometheus /metrics endpoint for this
// repository's tests: one scrape, parsed, and the value of one sample of
// it. It is apart from testkit so that only the tests about metrics import
// the Prometheus libraries.
package promscrape

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape is one scrape of a /metrics endpoint: its metric families by name.
type Scrape map[string]*dto.MetricFamily

// Get fetches url, which serves the Prometheus text format, and parses it.
func Get(ctx context.Context, url string) (Scrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("promscrape: %w", err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("promscrape: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("promscrape: GET %s: status %d", url, res.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		return nil, fmt.Errorf("promscrape: parse %s: %w", url, err)
	}
	return fams, nil
}

// Value returns the value of the first sample of metric name whose labels
// include labels ("k=v" pairs): a counter's or a gauge's value, a
// histogram's sample count. A missing sample is 0.
func (s Scrape) Value(name string, labels ...string) float64 {
	f := s[name]
	if f == nil {
		return 0
	}
	for _, m := range f.Metric {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

// hasLabels reports whether m has every "k=v" pair of labels.
func hasLabels(m *dto.Metric, labels []string) bool {
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		found := false
		for _, lp := range m.Label {
			found = found || (lp.GetName() == k && lp.GetValue() == v)
		}
		if !found {
			return false
		}
	}
	return true
}
