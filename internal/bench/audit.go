package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/passport-oss/passport/internal/app"
)

// auditBatchSize is the template's stream mapping BatchSize: what one
// invocation of the audit function gets at most.
const auditBatchSize = 100

// AuditEvent returns a batch of n stream records for the audit function,
// made from the records of events/audit-stream.json (under root) taken in
// turn, each with its own eventID and sequence number from first on, so
// that each makes its own audit entry.
func AuditEvent(root string, n, first int) (events.DynamoDBEvent, error) {
	var example events.DynamoDBEvent
	b, err := os.ReadFile(filepath.Join(root, "events", "audit-stream.json"))
	if err != nil {
		return example, err
	}
	if err := json.Unmarshal(b, &example); err != nil {
		return example, err
	}
	if len(example.Records) == 0 {
		return example, fmt.Errorf("events/audit-stream.json has no records")
	}
	run := newID()[:8]
	ev := events.DynamoDBEvent{Records: make([]events.DynamoDBEventRecord, n)}
	for i := range ev.Records {
		r := example.Records[i%len(example.Records)]
		r.EventID = fmt.Sprintf("bench%s%010d", run, first+i)
		r.Change.SequenceNumber = fmt.Sprintf("%021d", first+i+1)
		ev.Records[i] = r
	}
	return ev, nil
}

// measureAudit measures the audit pipeline: the audit function's throughput
// against DynamoDB Local, its BatchWriteItem calls per record, and the lag
// from a change made through the API to its entry in the audit list.
func measureAudit(ctx context.Context, e *env) ([]Row, error) {
	rows, err := e.auditThroughput(ctx)
	if err != nil {
		return nil, err
	}
	lag, err := e.auditLag(ctx)
	if err != nil {
		return nil, err
	}
	return append(rows, lag...), nil
}

// auditThroughput invokes the audit function (app.App.AuditFunction) with
// batches of 100 records, one after another as one shard delivers them.
func (e *env) auditThroughput(ctx context.Context) ([]Row, error) {
	handle, err := e.auditFunction()
	if err != nil {
		return nil, err
	}
	batches := make([]events.DynamoDBEvent, e.n.auditBatches)
	for i := range batches {
		if batches[i], err = AuditEvent(e.root, auditBatchSize, i*auditBatchSize); err != nil {
			return nil, err
		}
	}
	e.wire.Take()
	e.wire.Capture(e.opts.Record != "")
	var took time.Duration
	var last []Call
	writes := 0
	for _, ev := range batches {
		start := time.Now()
		resp, err := handle(ctx, ev)
		took += time.Since(start)
		if err != nil || len(resp.BatchItemFailures) > 0 {
			return nil, fmt.Errorf("audit function: %v, failures %v", err, resp.BatchItemFailures)
		}
		counts, calls := e.wire.Take()
		writes += counts["DynamoDB.BatchWriteItem"]
		last = calls
	}
	e.wire.Capture(false)
	if e.opts.Record != "" {
		if err := record(e.opts.Record, "AuditStreamFunction", last); err != nil {
			return nil, err
		}
	}
	records := float64(len(batches) * auditBatchSize)
	subject := "AuditStreamFunction"
	return []Row{
		{Area: AreaAudit, Subject: subject, Metric: "records/s", Value: records / took.Seconds(),
			Detail: fmt.Sprintf("%d batches of %d records in turn, against DynamoDB Local", len(batches), auditBatchSize)},
		{Area: AreaAudit, Subject: subject, Metric: "BatchWriteItem calls/record", Value: float64(writes) / records, Target: AtMost(1.0 / 25)},
	}, nil
}

// auditFunction builds the audit function's handler on the run's table, as
// its Lambda does at init (its log lines go to /dev/null; see newLocal).
func (e *env) auditFunction() (func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error), error) {
	var handle func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)
	err := withStdout(os.DevNull, func() error {
		a, err := app.NewWithAWS(app.Config{Table: e.table}, e.aws)
		if err == nil {
			handle = a.AuditFunction()
		}
		return err
	})
	return handle, err
}

// lagPoll is how often the audit list is read while waiting for entries.
const lagPoll = 20 * time.Millisecond

// auditLag registers providers through the API of a fresh table whose
// stream pollers run, one every lagInterval, and reads the audit list until
// each one's entry is there: the lag is from the registration's answer to
// the first list that holds its entry.
func (e *env) auditLag(ctx context.Context) ([]Row, error) {
	table := "passport-bench-lag-" + newID()[:10]
	local, err := e.newLocal(ctx, table)
	if err != nil {
		return nil, err
	}
	defer e.db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table})
	base, closeAPI, err := serve(local.Gateway)
	if err != nil {
		return nil, err
	}
	defer closeAPI()
	api := newClient(base)
	stop := runPollers(local)
	lags, err := e.trackLag(ctx, api)
	if stopErr := stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("%d registrations, one every %s; audit list read every %s; the stream mapping's MaximumBatchingWindow and poll interval dominate", len(lags), lagInterval, lagPoll)
	return []Row{
		{Area: AreaAudit, Subject: "change → audit entry", Metric: "lag p50 ms", Value: ms(percentile(lags, 50)), Detail: detail},
		{Area: AreaAudit, Subject: "change → audit entry", Metric: "lag p99 ms", Value: ms(percentile(lags, 99))},
	}, nil
}

// lagInterval spaces the changes whose lag is measured.
const lagInterval = 100 * time.Millisecond

func (e *env) trackLag(ctx context.Context, api *client) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(e.n.lagChanges)*lagInterval+time.Minute)
	defer cancel()
	written := map[string]time.Time{} // provider id -> when its registration answered
	var lags []time.Duration
	nextWrite := time.Now()
	for sent := 0; sent < e.n.lagChanges || len(written) > 0; {
		if sent < e.n.lagChanges && !time.Now().Before(nextWrite) {
			resp, err := api.mustSucceed(ctx, request{"POST", "/api/v1/passport/providers", e.samples.providerBody()})
			if err != nil {
				return nil, err
			}
			written[resp.ID] = time.Now()
			sent++
			nextWrite = nextWrite.Add(lagInterval)
		}
		seen, at, err := auditedProviders(ctx, api)
		if err != nil {
			return nil, err
		}
		for id, t := range written {
			if seen[id] {
				lags = append(lags, at.Sub(t))
				delete(written, id)
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%d changes never reached the audit list: %w", len(written), ctx.Err())
		case <-time.After(lagPoll):
		}
	}
	return lags, nil
}

// auditedProviders reads the newest page of the audit list and returns the
// providers it records, and when the answer arrived.
func auditedProviders(ctx context.Context, api *client) (map[string]bool, time.Time, error) {
	resp, err := api.mustSucceed(ctx, request{"GET", "/api/v1/passport/audit?limit=50", ""})
	at := time.Now()
	if err != nil {
		return nil, at, err
	}
	var env struct {
		Data []struct {
			Action     string `json:"action"`
			ProviderID string `json:"providerId"`
		} `json:"data"`
	}
	if err := json.Unmarshal(resp.Body, &env); err != nil {
		return nil, at, err
	}
	seen := map[string]bool{}
	for _, d := range env.Data {
		if strings.HasPrefix(d.Action, "provider.") {
			seen[d.ProviderID] = true
		}
	}
	return seen, at, nil
}
