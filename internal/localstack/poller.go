package localstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// StreamFunc is the Lambda handler of a DynamoDB stream consumer.
type StreamFunc = func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

// StreamsAPI is the part of the DynamoDB Streams client the poller uses.
type StreamsAPI interface {
	DescribeStream(context.Context, *dynamodbstreams.DescribeStreamInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(context.Context, *dynamodbstreams.GetShardIteratorInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(context.Context, *dynamodbstreams.GetRecordsInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// OnFailureFunc receives a batch that exhausted its retries or aged out: the
// message Lambda would send to the mapping's OnFailure destination, and the
// records themselves (which Lambda does not send; useful locally).
type OnFailureFunc func(ctx context.Context, msg FailureMessage, records []events.DynamoDBEventRecord) error

// Failure conditions, as in Lambda's OnFailure messages.
const (
	ConditionRetryAttemptsExhausted = "RetryAttemptsExhausted"
	ConditionRecordAgeExceeded      = "RecordAgeExceeded"
)

// FailureMessage is the invocation record Lambda sends to a stream event
// source mapping's OnFailure destination (SQS/SNS).
type FailureMessage struct {
	RequestContext struct {
		RequestID              string `json:"requestId"`
		FunctionARN            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	ResponseContext struct {
		StatusCode      int    `json:"statusCode"`
		ExecutedVersion string `json:"executedVersion"`
		FunctionError   string `json:"functionError,omitempty"`
	} `json:"responseContext"`
	Version            string             `json:"version"`
	Timestamp          string             `json:"timestamp"`
	DDBStreamBatchInfo DDBStreamBatchInfo `json:"DDBStreamBatchInfo"`
}

// DDBStreamBatchInfo locates the failed records in the stream.
type DDBStreamBatchInfo struct {
	ShardID                         string `json:"shardId"`
	StartSequenceNumber             string `json:"startSequenceNumber"`
	EndSequenceNumber               string `json:"endSequenceNumber"`
	ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
	ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
	BatchSize                       int    `json:"batchSize"`
	StreamARN                       string `json:"streamArn"`
}

// PollerConfig configures a Poller: the event source mapping's settings plus
// local plumbing.
type PollerConfig struct {
	Streams   StreamsAPI
	StreamARN string
	Region    string // for records without awsRegion
	Invoke    StreamFunc

	BatchSize             int           // default 100
	MaximumBatchingWindow time.Duration // 0: invoke as soon as records are read
	// MaximumRetryAttempts: retries after the first failed invocation of a
	// batch before it goes to OnFailure; negative means forever.
	MaximumRetryAttempts int
	// MaximumRecordAge: records older than this go to OnFailure unprocessed;
	// 0 or negative means no limit.
	MaximumRecordAge        time.Duration
	BisectOnError           bool
	ReportBatchItemFailures bool
	StartingPosition        string   // TRIM_HORIZON (default) or LATEST
	FilterPatterns          []string // FilterCriteria patterns (OR)

	OnFailure    OnFailureFunc // nil: failures are only logged
	FunctionARN  string        // for FailureMessage
	PollInterval time.Duration // sleep when nothing was read; default 200ms
	RetryBackoff time.Duration // first retry delay, doubling up to 5s; default 100ms
	// Timeout is the function's: at it the invocation fails, whether or not
	// the function heeds its context. 0: none.
	Timeout time.Duration
	// Checkpoints, when set, keeps the position in each shard beyond this
	// Poller: a new Poller with the same Checkpoints resumes where this one
	// stopped. nil: every Poller starts at StartingPosition.
	Checkpoints *Checkpoints
	Logger      *slog.Logger
}

// Checkpoints is an event source mapping's position in each shard, as
// Lambda keeps it across the pollers it runs: the sequence number of the
// last record the mapping is done with (acknowledged by the function,
// filtered out, or sent to OnFailure). A Poller resumes after it
// (AFTER_SEQUENCE_NUMBER), so a batch in flight when a poller stopped is
// delivered again and no record is skipped; a shard without a checkpoint
// starts at StartingPosition. The zero value is empty; safe for concurrent
// use.
type Checkpoints struct {
	mu  sync.Mutex
	seq map[string]string // shard ID -> sequence number
}

// Get returns the checkpoint of the shard, or "" if it has none.
func (c *Checkpoints) Get(shardID string) string {
	if c == nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq[shardID]
}

func (c *Checkpoints) set(shardID, seq string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seq == nil {
		c.seq = map[string]string{}
	}
	c.seq[shardID] = seq
}

// PollerStats counts what the poller did with the records it read.
type PollerStats struct {
	Read        int // records read from the stream
	Filtered    int // dropped by the filter criteria (never delivered)
	Delivered   int // delivered and acknowledged by the function
	Failed      int // handed to OnFailure
	Invocations int
	Errors      int // invocations that failed as a whole: an error, a panic or a timeout
	TimedOut    int // invocations the Timeout stopped
	Bisections  int // failed batches split in two
	Retries     int // retries scheduled, after an error or a partial batch failure
}

// Add returns the sum of s and o.
func (s PollerStats) Add(o PollerStats) PollerStats {
	return PollerStats{
		Read: s.Read + o.Read, Filtered: s.Filtered + o.Filtered, Delivered: s.Delivered + o.Delivered,
		Failed: s.Failed + o.Failed, Invocations: s.Invocations + o.Invocations, Errors: s.Errors + o.Errors,
		TimedOut: s.TimedOut + o.TimedOut, Bisections: s.Bisections + o.Bisections, Retries: s.Retries + o.Retries,
	}
}

// Poller emulates a Lambda event source mapping on a DynamoDB stream: it
// walks the shards (parents before children), filters, batches, invokes the
// function and honours its response, in order per shard, never skipping a
// record.
type Poller struct {
	cfg     PollerConfig
	filters Filters
	log     *slog.Logger

	mu        sync.Mutex
	stats     PollerStats
	sweep     int64 // number of the sweep in progress (or last started)
	idleSweep int64 // number of the last sweep that found nothing to do
	changed   chan struct{}
	running   bool
	done      bool
	runErr    error

	shards map[string]*shardState
	order  []string
	first  bool
}

type shardState struct {
	id, parent string
	iterator   string
	lastRead   string // sequence number of the last record read
	closed     bool   // the shard's end was reached (NextShardIterator nil)
	done       bool   // closed and every record handled
	initialPos types.ShardIteratorType
	pending    []pendingRecord
	attempts   int // failed invocations with the current head record
	bisect     int // batch size limit while bisecting; 0: none
	retryAt    time.Time
	backoff    time.Duration
}

type pendingRecord struct {
	rec    events.DynamoDBEventRecord
	readAt time.Time
}

// NewPoller validates the configuration and compiles the filter patterns: an
// unsupported filter operator is an error here.
func NewPoller(cfg PollerConfig) (*Poller, error) {
	if cfg.Streams == nil || cfg.Invoke == nil || cfg.StreamARN == "" {
		return nil, errors.New("poller: Streams, StreamARN and Invoke are required")
	}
	fs, err := CompileFilters(cfg.FilterPatterns)
	if err != nil {
		return nil, fmt.Errorf("poller: %w", err)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	switch cfg.StartingPosition {
	case "":
		cfg.StartingPosition = string(types.ShardIteratorTypeTrimHorizon)
	case string(types.ShardIteratorTypeTrimHorizon), string(types.ShardIteratorTypeLatest):
	default:
		return nil, fmt.Errorf("poller: unsupported starting position %q", cfg.StartingPosition)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 100 * time.Millisecond
	}
	if cfg.FunctionARN == "" {
		cfg.FunctionARN = "arn:aws:lambda:" + cfg.Region + ":000000000000:function:local"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Poller{cfg: cfg, filters: fs, log: log, changed: make(chan struct{}), shards: map[string]*shardState{}, first: true}, nil
}

// Stats returns the counters so far.
func (p *Poller) Stats() PollerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// WaitIdle blocks until the poller has handled every record written to the
// stream before the call: a whole sweep (shard discovery and a read of every
// open shard), started after the call, found nothing to read, nothing pending
// and nothing waiting for a retry.
func (p *Poller) WaitIdle(ctx context.Context) error {
	p.mu.Lock()
	target := p.sweep
	p.mu.Unlock()
	for {
		p.mu.Lock()
		idle, ch, done, runErr := p.idleSweep > target, p.changed, p.done, p.runErr
		p.mu.Unlock()
		if idle {
			return nil
		}
		if done {
			return fmt.Errorf("poller stopped: %v", runErr)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (p *Poller) notify(f func()) {
	p.mu.Lock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Run polls until ctx ends. It returns nil when ctx ends and an error only
// when the stream cannot be read at all (e.g. the table was deleted).
func (p *Poller) Run(ctx context.Context) (err error) {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return errors.New("poller: already running")
	}
	p.running = true
	p.mu.Unlock()
	defer func() {
		p.notify(func() { p.done, p.runErr = true, err })
	}()
	for {
		if ctx.Err() != nil {
			return nil
		}
		var sweep int64
		p.notify(func() { p.sweep++; sweep = p.sweep })
		progress, idle, err := p.runSweep(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			var rnf *types.ResourceNotFoundException
			if errors.As(err, &rnf) {
				return fmt.Errorf("stream %s: %w", p.cfg.StreamARN, err)
			}
			p.log.Warn("stream poller", "err", err)
			progress = false
		} else if idle {
			p.notify(func() { p.idleSweep = sweep })
		}
		if !progress {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(p.cfg.PollInterval):
			}
		}
	}
}

// runSweep discovers shards and gives every readable shard one turn.
// progress reports whether records were read or handled (poll again at
// once); idle whether nothing was read and nothing is pending anywhere.
func (p *Poller) runSweep(ctx context.Context) (progress, idle bool, err error) {
	if err := p.discover(ctx); err != nil {
		return false, false, err
	}
	idle = true
	for _, id := range p.order {
		sh := p.shards[id]
		if sh.done {
			continue
		}
		if par, ok := p.shards[sh.parent]; ok && !par.done {
			idle = false // the parent's records come first
			continue
		}
		pr, err := p.pollShard(ctx, sh)
		if err != nil {
			return false, false, err
		}
		progress = progress || pr
		if pr || len(sh.pending) > 0 {
			idle = false
		}
	}
	return progress, idle, nil
}

func (p *Poller) discover(ctx context.Context) error {
	var start *string
	initial := p.first
	for {
		out, err := p.cfg.Streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{
			StreamArn: aws.String(p.cfg.StreamARN), ExclusiveStartShardId: start,
		})
		if err != nil {
			return err
		}
		for _, s := range out.StreamDescription.Shards {
			id := aws.ToString(s.ShardId)
			if _, ok := p.shards[id]; ok {
				continue
			}
			pos := types.ShardIteratorTypeTrimHorizon
			if initial && p.cfg.StartingPosition == string(types.ShardIteratorTypeLatest) {
				pos = types.ShardIteratorTypeLatest
			}
			// A shard with a checkpoint is read after it (see read).
			p.shards[id] = &shardState{id: id, parent: aws.ToString(s.ParentShardId), initialPos: pos, lastRead: p.cfg.Checkpoints.Get(id)}
			p.order = append(p.order, id)
		}
		start = out.StreamDescription.LastEvaluatedShardId
		if start == nil {
			break
		}
	}
	p.first = false
	return nil
}

func (p *Poller) pollShard(ctx context.Context, sh *shardState) (progress bool, err error) {
	if !sh.closed && len(sh.pending) < p.cfg.BatchSize {
		n, err := p.read(ctx, sh)
		if err != nil {
			return false, err
		}
		progress = n > 0
	}
	if len(sh.pending) > 0 && p.maybeInvoke(ctx, sh) {
		progress = true
	}
	if sh.closed && len(sh.pending) == 0 {
		sh.done = true
		progress = true // its children become readable
	}
	return progress, nil
}

// read does one GetRecords on the shard and queues the records that pass the
// filters. It returns the number of records read.
func (p *Poller) read(ctx context.Context, sh *shardState) (int, error) {
	if sh.iterator == "" {
		in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(p.cfg.StreamARN), ShardId: aws.String(sh.id)}
		if sh.lastRead != "" {
			in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
			in.SequenceNumber = aws.String(sh.lastRead)
		} else {
			in.ShardIteratorType = sh.initialPos
		}
		out, err := p.cfg.Streams.GetShardIterator(ctx, in)
		if err != nil {
			var trimmed *types.TrimmedDataAccessException
			if errors.As(err, &trimmed) && sh.lastRead != "" {
				p.log.Warn("stream records trimmed before they were read; resuming at TRIM_HORIZON", "shard", sh.id, "after", sh.lastRead)
				sh.lastRead = ""
				sh.initialPos = types.ShardIteratorTypeTrimHorizon
			}
			return 0, fmt.Errorf("GetShardIterator %s: %w", sh.id, err)
		}
		if out.ShardIterator == nil {
			sh.closed = true
			return 0, nil
		}
		sh.iterator = *out.ShardIterator
	}
	out, err := p.cfg.Streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(sh.iterator), Limit: aws.Int32(1000)})
	if err != nil {
		var expired *types.ExpiredIteratorException
		if errors.As(err, &expired) {
			sh.iterator = ""
			return 0, nil
		}
		var trimmed *types.TrimmedDataAccessException
		if errors.As(err, &trimmed) {
			sh.iterator = ""
		}
		return 0, fmt.Errorf("GetRecords %s: %w", sh.id, err)
	}
	now := time.Now()
	var read, filtered int
	var convErr error
	for _, r := range out.Records {
		rec, err := ConvertRecord(r, p.cfg.StreamARN, p.cfg.Region)
		if err != nil {
			convErr = fmt.Errorf("record %s: %w", aws.ToString(r.EventID), err)
			break
		}
		ok, err := p.filters.MatchRecord(rec)
		if err != nil {
			convErr = fmt.Errorf("record %s: %w", aws.ToString(r.EventID), err)
			break
		}
		read++
		sh.lastRead = rec.Change.SequenceNumber
		if ok {
			sh.pending = append(sh.pending, pendingRecord{rec: rec, readAt: now})
		} else {
			filtered++
		}
	}
	if read > 0 && len(sh.pending) == 0 {
		p.cfg.Checkpoints.set(sh.id, sh.lastRead) // all filtered out
	}
	p.mu.Lock()
	p.stats.Read += read
	p.stats.Filtered += filtered
	p.mu.Unlock()
	if convErr != nil {
		sh.iterator = "" // re-read after the last good record
		return read, convErr
	}
	if out.NextShardIterator == nil {
		sh.closed = true
		sh.iterator = ""
	} else {
		sh.iterator = *out.NextShardIterator
	}
	return read, nil
}

// maybeInvoke invokes the function with the shard's next batch when one is
// due, and reports whether it did (or dropped aged-out records).
func (p *Poller) maybeInvoke(ctx context.Context, sh *shardState) bool {
	now := time.Now()
	if now.Before(sh.retryAt) {
		return false
	}
	if p.expireOld(ctx, sh, now) && len(sh.pending) == 0 {
		return true
	}
	full := len(sh.pending) >= p.cfg.BatchSize
	windowOver := now.Sub(sh.pending[0].readAt) >= p.cfg.MaximumBatchingWindow
	if !full && !windowOver && !sh.closed && sh.attempts == 0 && sh.bisect == 0 {
		return false
	}
	n := min(len(sh.pending), p.cfg.BatchSize)
	if sh.bisect > 0 {
		n = min(n, sh.bisect)
	}
	batch := make([]events.DynamoDBEventRecord, n)
	for i := range batch {
		batch[i] = sh.pending[i].rec
	}
	resp, err := p.invoke(ctx, batch)
	if ctx.Err() != nil {
		return false // shutting down: the batch stays pending
	}
	if err == nil && p.cfg.ReportBatchItemFailures && len(resp.BatchItemFailures) > 0 {
		idx, ok := firstFailure(batch, resp.BatchItemFailures)
		if !ok {
			err = fmt.Errorf("batchItemFailures names an itemIdentifier not in the batch: %+v", resp.BatchItemFailures)
		} else {
			p.ack(sh, idx)
			if idx > 0 {
				sh.attempts = 0
			}
			p.retryOrFail(ctx, sh, len(batch)-idx, "partial batch failure", nil)
			return true
		}
	}
	if err != nil {
		p.mu.Lock()
		p.stats.Errors++
		p.mu.Unlock()
		if p.cfg.BisectOnError && len(batch) > 1 {
			sh.bisect = len(batch) / 2
			p.mu.Lock()
			p.stats.Bisections++
			p.mu.Unlock()
			p.log.Info("stream batch failed; bisecting", "shard", sh.id, "batch", len(batch), "err", err)
			return true
		}
		p.retryOrFail(ctx, sh, len(batch), "function error", err)
		return true
	}
	p.ack(sh, len(batch))
	sh.attempts, sh.bisect, sh.backoff = 0, 0, 0
	return true
}

// ack drops the first n pending records: the function handled them.
func (p *Poller) ack(sh *shardState, n int) {
	p.advance(sh, n)
	p.mu.Lock()
	p.stats.Delivered += n
	p.mu.Unlock()
}

// advance drops the first n pending records, which the mapping is done
// with, and moves the shard's checkpoint past them (and past the records
// filtered out after them, when nothing else is pending).
func (p *Poller) advance(sh *shardState, n int) {
	if n == 0 {
		return
	}
	seq := sh.pending[n-1].rec.Change.SequenceNumber
	sh.pending = sh.pending[n:]
	if len(sh.pending) == 0 {
		seq = sh.lastRead
	}
	p.cfg.Checkpoints.set(sh.id, seq)
}

// retryOrFail counts a failed invocation of the head batch of n records and
// either schedules a retry or hands the records to OnFailure.
func (p *Poller) retryOrFail(ctx context.Context, sh *shardState, n int, why string, err error) {
	sh.attempts++
	if p.cfg.MaximumRetryAttempts < 0 || sh.attempts <= p.cfg.MaximumRetryAttempts {
		if sh.backoff == 0 {
			sh.backoff = p.cfg.RetryBackoff
		} else {
			sh.backoff = min(2*sh.backoff, 5*time.Second)
		}
		sh.retryAt = time.Now().Add(sh.backoff)
		p.mu.Lock()
		p.stats.Retries++
		p.mu.Unlock()
		p.log.Info("stream batch will be retried", "shard", sh.id, "why", why, "err", err, "attempt", sh.attempts, "from", sh.pending[0].rec.Change.SequenceNumber)
		return
	}
	p.fail(ctx, sh, n, ConditionRetryAttemptsExhausted, sh.attempts)
	sh.attempts, sh.bisect, sh.backoff = 0, 0, 0
}

// expireOld hands pending records older than MaximumRecordAge to OnFailure.
func (p *Poller) expireOld(ctx context.Context, sh *shardState, now time.Time) bool {
	if p.cfg.MaximumRecordAge <= 0 {
		return false
	}
	n := 0
	for n < len(sh.pending) && now.Sub(sh.pending[n].rec.Change.ApproximateCreationDateTime.Time) > p.cfg.MaximumRecordAge {
		n++
	}
	if n > 0 {
		p.fail(ctx, sh, n, ConditionRecordAgeExceeded, sh.attempts)
		sh.attempts, sh.bisect, sh.backoff = 0, 0, 0
	}
	return n > 0
}

func (p *Poller) fail(ctx context.Context, sh *shardState, n int, condition string, invokes int) {
	recs := make([]events.DynamoDBEventRecord, n)
	for i := range recs {
		recs[i] = sh.pending[i].rec
	}
	p.advance(sh, n)
	var msg FailureMessage
	msg.RequestContext.RequestID = newID()
	msg.RequestContext.FunctionARN = p.cfg.FunctionARN
	msg.RequestContext.Condition = condition
	msg.RequestContext.ApproximateInvokeCount = invokes
	msg.ResponseContext.StatusCode = 200
	msg.ResponseContext.ExecutedVersion = "$LATEST"
	if invokes > 0 {
		msg.ResponseContext.FunctionError = "Unhandled"
	}
	msg.Version = "1.0"
	msg.Timestamp = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	first, last := recs[0].Change, recs[n-1].Change
	msg.DDBStreamBatchInfo = DDBStreamBatchInfo{
		ShardID:                         sh.id,
		StartSequenceNumber:             first.SequenceNumber,
		EndSequenceNumber:               last.SequenceNumber,
		ApproximateArrivalOfFirstRecord: first.ApproximateCreationDateTime.UTC().Format(time.RFC3339),
		ApproximateArrivalOfLastRecord:  last.ApproximateCreationDateTime.UTC().Format(time.RFC3339),
		BatchSize:                       n,
		StreamARN:                       p.cfg.StreamARN,
	}
	p.mu.Lock()
	p.stats.Failed += n
	p.mu.Unlock()
	p.log.Warn("stream records sent to OnFailure", "condition", condition, "shard", sh.id,
		"start", msg.DDBStreamBatchInfo.StartSequenceNumber, "end", msg.DDBStreamBatchInfo.EndSequenceNumber, "count", n)
	if p.cfg.OnFailure != nil {
		if err := p.cfg.OnFailure(ctx, msg, recs); err != nil {
			p.log.Error("OnFailure destination", "err", err)
		}
	}
}

// firstFailure returns the index in batch of the earliest record named in
// failures. ok is false when an identifier is empty or not in the batch
// (Lambda then treats the whole batch as failed).
func firstFailure(batch []events.DynamoDBEventRecord, failures []events.DynamoDBBatchItemFailure) (int, bool) {
	pos := make(map[string]int, len(batch))
	for i, r := range batch {
		pos[r.Change.SequenceNumber] = i
	}
	idx := len(batch)
	for _, f := range failures {
		i, ok := pos[f.ItemIdentifier]
		if !ok || f.ItemIdentifier == "" {
			return 0, false
		}
		idx = min(idx, i)
	}
	return idx, true
}

// invoke calls the function as Lambda would: with the event round-tripped
// through JSON, a Lambda context, and a panic turned into an error. At the
// Timeout Lambda stops the function and the invocation fails: invoke returns
// then, whether or not the function heeded its context, and a late answer
// is dropped. A Go function cannot be stopped, so its goroutine may run on
// for a while; the audit function's writes are idempotent (an entry's key
// derives from the record's eventID), so a late write adds nothing that the
// redelivery would not. invoke also returns when ctx ends (the poller
// stops): the caller then leaves the batch unacknowledged.
func (p *Poller) invoke(ctx context.Context, batch []events.DynamoDBEventRecord) (events.DynamoDBEventResponse, error) {
	p.mu.Lock()
	p.stats.Invocations++
	p.mu.Unlock()
	var ev events.DynamoDBEvent
	b, err := json.Marshal(events.DynamoDBEvent{Records: batch})
	if err != nil {
		return events.DynamoDBEventResponse{}, err
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		return events.DynamoDBEventResponse{}, err
	}
	fctx := lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: newUUID(), InvokedFunctionArn: p.cfg.FunctionARN})
	if p.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(fctx, p.cfg.Timeout)
		defer cancel()
	}
	type result struct {
		resp events.DynamoDBEventResponse
		err  error
	}
	done := make(chan result, 1) // the function never blocks on an answer nobody reads
	go func() {
		var r result
		defer func() {
			if v := recover(); v != nil {
				p.log.Error("stream function panicked", "panic", v, "stack", string(debug.Stack()))
				r.err = fmt.Errorf("function panicked: %v", v)
			}
			done <- r
		}()
		r.resp, r.err = p.cfg.Invoke(fctx, ev)
	}()
	var r result
	select {
	case r = <-done:
	case <-fctx.Done():
	}
	switch {
	case ctx.Err() != nil:
		return events.DynamoDBEventResponse{}, ctx.Err()
	case fctx.Err() != nil: // the deadline passed, answered or not
		p.mu.Lock()
		p.stats.TimedOut++
		p.mu.Unlock()
		p.log.Warn("stream function timed out", "timeout", p.cfg.Timeout, "records", len(batch))
		return events.DynamoDBEventResponse{}, fmt.Errorf("function timed out after %v", p.cfg.Timeout)
	}
	return r.resp, r.err
}

// AppendFailureFile returns an OnFailureFunc that appends each message as a
// JSON line to path (creating its folder): the local stand-in for the SQS
// OnFailure destination.
func AppendFailureFile(path string) OnFailureFunc {
	var mu sync.Mutex
	return func(_ context.Context, msg FailureMessage, _ []events.DynamoDBEventRecord) error {
		mu.Lock()
		defer mu.Unlock()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		b, err := json.Marshal(msg)
		if err != nil {
			f.Close()
			return err
		}
		if _, err := f.Write(append(b, '\n')); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
