package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Areas of the table, in the order they are printed: one per measurement
// of issue #7.
const (
	AreaRoundTrips = "round trips"
	AreaLatency    = "latency"
	AreaHandler    = "handler cost"
	AreaColdStart  = "cold start"
	AreaAudit      = "audit pipeline"
	AreaLoad       = "load"
)

// Areas lists every area in table order.
var Areas = []string{AreaRoundTrips, AreaLatency, AreaHandler, AreaColdStart, AreaAudit, AreaLoad}

// Columns are the table's columns.
var Columns = []string{"area", "subject", "metric", "value", "floor", "ratio", "target", "ok", "detail"}

// Row is one measurement. Floor, when not zero, is the same measurement of
// the floor taken beside it in the same run (the raw SDK call, a bare Go
// Lambda), and the ratio is Value/Floor.
type Row struct {
	Area    string
	Subject string // a route ("GET /api/v1/passport/providers") or function id
	Metric  string // what Value is, with its unit
	Value   float64
	Floor   float64
	Target  Target
	Detail  string
}

// Target is what a row should meet: Value (or, with OfFloor, Value/Floor) at
// most Max. The zero Target means none.
type Target struct {
	Max     float64
	OfFloor bool
	Set     bool
}

// AtMost is the target Value <= max.
func AtMost(max float64) Target { return Target{Max: max, Set: true} }

// AtMostTimesFloor is the target Value/Floor <= max.
func AtMostTimesFloor(max float64) Target { return Target{Max: max, OfFloor: true, Set: true} }

// Ratio returns Value/Floor, or NaN without a floor.
func (r Row) Ratio() float64 {
	if r.Floor == 0 {
		return math.NaN()
	}
	return r.Value / r.Floor
}

// Meets reports whether the row meets its target; ok is false when it has
// none (or, for a floor target, no floor).
func (r Row) Meets() (meets, ok bool) {
	if !r.Target.Set {
		return false, false
	}
	v := r.Value
	if r.Target.OfFloor {
		if v = r.Ratio(); math.IsNaN(v) {
			return false, false
		}
	}
	return v <= r.Target.Max+1e-9, true
}

// Table is the report of one run: rows grouped by area, in Areas order.
type Table struct {
	Rows []Row
}

// Add appends rows.
func (t *Table) Add(rows ...Row) { t.Rows = append(t.Rows, rows...) }

// Cells returns the rows as text, one slice of len(Columns) per row, in
// Areas order (rows of one area keep the order they were added in).
func (t *Table) Cells() [][]string {
	var out [][]string
	for _, area := range Areas {
		for _, r := range t.Rows {
			if r.Area == area {
				out = append(out, r.cells())
			}
		}
	}
	return out
}

func (r Row) cells() []string {
	// A "|" would split a Markdown cell.
	c := []string{r.Area, r.Subject, r.Metric, formatNumber(r.Value), "", "", "", "", strings.ReplaceAll(r.Detail, "|", "/")}
	if r.Floor != 0 {
		c[4] = formatNumber(r.Floor)
		c[5] = strconv.FormatFloat(r.Ratio(), 'f', 2, 64) + "×"
	}
	if r.Target.Set {
		c[6] = "≤ " + formatNumber(r.Target.Max)
		if r.Target.OfFloor {
			c[6] = "≤ " + strconv.FormatFloat(r.Target.Max, 'f', 2, 64) + "× floor"
		}
	}
	if meets, ok := r.Meets(); ok {
		c[7] = map[bool]string{true: "yes", false: "NO"}[meets]
	}
	return c
}

// formatNumber prints integers as integers and other values with three
// significant digits (four for values of 1000 and more, which print whole).
func formatNumber(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatInt(int64(v), 10)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// WriteMarkdown writes the table as a Markdown table, padded so that it also
// reads as plain text in a terminal.
func (t *Table) WriteMarkdown(w io.Writer) error {
	rows := append([][]string{Columns}, t.Cells()...)
	width := make([]int, len(Columns))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			fmt.Fprintf(&b, " %s%s |", c, strings.Repeat(" ", width[i]-len([]rune(c))))
		}
		b.WriteString("\n")
	}
	line(rows[0])
	sep := make([]string, len(Columns))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, r := range rows[1:] {
		line(r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ParseMarkdown reads back a table written by WriteMarkdown: its header and
// its rows' cells. Tests use it to check the printed table's structure.
func ParseMarkdown(s string) (header []string, rows [][]string, err error) {
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case header == nil:
			header = cells
		case strings.Trim(cells[0], "-") == "":
			// the separator line
		default:
			if len(cells) != len(header) {
				return nil, nil, fmt.Errorf("row %q has %d cells, want %d", line, len(cells), len(header))
			}
			rows = append(rows, cells)
		}
	}
	if header == nil {
		return nil, nil, fmt.Errorf("no table")
	}
	return header, rows, nil
}
