package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/passport-oss/passport/internal/httpapi"
)

// latencyTarget is the most a route's p50 may be over its floor's.
const latencyTarget = 1.15

// measureLatency times every route through the local gateway over HTTP,
// interleaved request by request with its floor: the DynamoDB requests that
// very Passport request made, sent again by the bare SDK from this process
// to the same DynamoDB Local. Which of the pair goes first alternates, so
// neither always meets a warmer connection or cache.
func measureLatency(ctx context.Context, e *env) ([]Row, error) {
	var rows []Row
	for _, rt := range httpapi.Routes {
		r, err := e.latencyOf(ctx, rt)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

func (e *env) latencyOf(ctx context.Context, rt httpapi.Route) ([]Row, error) {
	var api, floor []time.Duration
	var pending []Call // the floor of the last Passport request
	others := map[string]int{}
	var floorErr error
	replayPending := func(measured bool) {
		if floorErr != nil {
			return
		}
		d, err := replay(ctx, e.db, pending)
		if floorErr = err; measured && err == nil {
			floor = append(floor, d)
		}
	}
	for i := range e.n.latencyWarmup + e.n.latencyPairs {
		measured := i >= e.n.latencyWarmup
		if i%2 == 1 {
			replayPending(measured)
		}
		s, err := e.timedRequest(ctx, rt)
		if err != nil {
			return nil, err
		}
		if measured {
			api = append(api, s.took)
		}
		for _, op := range s.others {
			others[op]++
		}
		pending = s.floor
		if i%2 == 0 {
			replayPending(measured)
		}
	}
	return latencyRows(rt, api, floor, floorErr, others, e.n.latencyWarmup+e.n.latencyPairs), nil
}

// timed is one timed Passport request.
type timed struct {
	took   time.Duration
	floor  []Call   // its DynamoDB calls, ready to be replayed
	others []string // its other AWS calls, which the floor leaves out
}

// timedRequest sends one request of rt through the gateway and times the
// whole answer.
func (e *env) timedRequest(ctx context.Context, rt httpapi.Route) (timed, error) {
	req, known, err := e.samples.forRoute(rt)
	if err != nil {
		return timed{}, err
	}
	e.wire.Take()
	e.wire.Capture(true)
	start := time.Now()
	resp, err := e.api.do(ctx, req)
	took := time.Since(start)
	e.wire.Capture(false)
	_, calls := e.wire.Take()
	switch {
	case err != nil:
		return timed{}, err
	case known && resp.Status/100 != 2:
		return timed{}, fmt.Errorf("%s %s: status %d: %s", req.Method, req.Path, resp.Status, resp.Body)
	}
	t := timed{took: took, floor: floorCalls(calls)}
	for _, c := range calls {
		if !strings.HasPrefix(c.Op, "DynamoDB.") {
			t.others = append(t.others, c.Op)
		}
	}
	return t, nil
}

func latencyRows(rt httpapi.Route, api, floor []time.Duration, floorErr error, others map[string]int, n int) []Row {
	subject := rt.Method + " " + rt.Path
	detail := fmt.Sprintf("%d interleaved pairs; floor: the same DynamoDB requests by the bare SDK", len(api))
	if len(floor) == 0 {
		detail = fmt.Sprintf("%d requests; no floor", len(api))
		if floorErr != nil {
			detail += ": " + floorErr.Error()
		}
	}
	var extra []string
	for op, c := range others {
		extra = append(extra, fmt.Sprintf("%s×%s", op, formatNumber(float64(c)/float64(n))))
	}
	if slices.Sort(extra); len(extra) > 0 {
		detail += "; the API also makes " + strings.Join(extra, ", ") + " per request, not in the floor"
	}
	var rows []Row
	for _, p := range []float64{50, 95, 99} {
		r := Row{Area: AreaLatency, Subject: subject, Metric: fmt.Sprintf("p%d ms", int(p)), Value: ms(percentile(api, p))}
		if len(floor) > 0 {
			r.Floor = ms(percentile(floor, p))
		}
		if p == 50 {
			r.Target, r.Detail = AtMostTimesFloor(latencyTarget), detail
		}
		rows = append(rows, r)
	}
	return rows
}

// floorCalls keeps the DynamoDB calls of a request, with what made its
// writes unique marked for replacement: the keys of the items it put only
// if absent, and the SDK's idempotency token (the same token on another
// transaction is refused). A replay must write new items as the request
// did, or its conditions fail.
func floorCalls(calls []Call) []Call {
	var unique []string
	for _, c := range calls {
		if strings.HasPrefix(c.Op, "DynamoDB.") {
			unique = append(unique, createdKeys(c.Request)...)
			if m := clientToken.FindSubmatch(c.Request); m != nil {
				unique = append(unique, string(m[1]))
			}
		}
	}
	var out []Call
	for _, c := range calls {
		if !strings.HasPrefix(c.Op, "DynamoDB.") {
			continue
		}
		body := string(c.Request)
		for _, u := range unique {
			body = strings.ReplaceAll(body, u, "\x00"+u+"\x00")
		}
		out = append(out, Call{Op: c.Op, Request: []byte(body), Start: c.Start, End: c.End})
	}
	return out
}

// createdKeys returns what identifies each item a request body puts only if
// absent (a ConditionExpression with attribute_not_exists): the part of
// its partition key after the last '#', an id or a name, which the item's
// other attributes repeat.
func createdKeys(body []byte) []string {
	type put struct {
		Item                map[string]map[string]any
		ConditionExpression string
	}
	var in struct {
		put
		TransactItems []struct{ Put *put }
	}
	if json.Unmarshal(body, &in) != nil {
		return nil
	}
	puts := []put{in.put}
	for _, t := range in.TransactItems {
		if t.Put != nil {
			puts = append(puts, *t.Put)
		}
	}
	var keys []string
	for _, p := range puts {
		pk, _ := p.Item["PK"]["S"].(string)
		if pk == "" || !strings.Contains(p.ConditionExpression, "attribute_not_exists") {
			continue
		}
		keys = append(keys, pk[strings.LastIndexByte(pk, '#')+1:])
	}
	return keys
}

var clientToken = regexp.MustCompile(`"ClientRequestToken":"([^"]+)"`)

// replay sends calls again through db, each unique value marked by
// floorCalls replaced by a fresh one, and returns how long they took. Calls
// that overlapped in time are sent concurrently, as they were.
func replay(ctx context.Context, db *dynamodb.Client, calls []Call) (time.Duration, error) {
	fresh := map[string]string{}
	bodies := make([][]byte, len(calls))
	for i, c := range calls {
		bodies[i] = freshen(c.Request, fresh)
	}
	start := time.Now()
	for _, wave := range waves(calls) {
		errs := make([]error, len(wave))
		var wg sync.WaitGroup
		for j, i := range wave {
			wg.Go(func() { errs[j] = send(ctx, db, calls[i].Op, bodies[i]) })
		}
		wg.Wait()
		for j, err := range errs {
			if err != nil {
				return 0, fmt.Errorf("floor %s: %w", calls[wave[j]].Op, err)
			}
		}
	}
	return time.Since(start), nil
}

// waves groups the indexes of calls (in the order they started) into runs
// of calls that overlapped in time.
func waves(calls []Call) [][]int {
	order := make([]int, len(calls))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return calls[a].Start.Compare(calls[b].Start) })
	var out [][]int
	var end time.Time
	for _, i := range order {
		if len(out) == 0 || !calls[i].Start.Before(end) {
			out = append(out, nil)
			end = calls[i].End
		}
		out[len(out)-1] = append(out[len(out)-1], i)
		if calls[i].End.After(end) {
			end = calls[i].End
		}
	}
	return out
}

// freshen replaces each marked value by a fresh one (the same one for the
// same value across the calls of a request).
func freshen(body []byte, fresh map[string]string) []byte {
	parts := bytes.Split(body, []byte{0})
	for i := 1; i < len(parts); i += 2 {
		v := string(parts[i])
		if fresh[v] == "" {
			fresh[v] = freshOfLen(len(v))
		}
		parts[i] = []byte(fresh[v])
	}
	return bytes.Join(parts, nil)
}

// freshOfLen returns n random characters of Passport's id alphabet, so that
// a replayed item is the size of the one it stands for.
func freshOfLen(n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(newID())
	}
	return b.String()[:n]
}

// send makes the DynamoDB call op with body as its exact request body: the
// SDK signs, sends and decodes it as it would its own serialisation of the
// input (which is all it skips).
func send(ctx context.Context, db *dynamodb.Client, op string, body []byte) error {
	withBody := func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Serialize.Add(middleware.SerializeMiddlewareFunc("BenchReplayBody",
				func(ctx context.Context, in middleware.SerializeInput, next middleware.SerializeHandler) (middleware.SerializeOutput, middleware.Metadata, error) {
					req, ok := in.Request.(*smithyhttp.Request)
					if !ok {
						return middleware.SerializeOutput{}, middleware.Metadata{}, fmt.Errorf("unexpected request type %T", in.Request)
					}
					r, err := req.SetStream(bytes.NewReader(body))
					if err != nil {
						return middleware.SerializeOutput{}, middleware.Metadata{}, err
					}
					in.Request = r
					return next.HandleSerialize(ctx, in)
				}), middleware.After)
		})
	}
	// The inputs only need to pass the SDK's validation: the body replaces
	// their serialisation.
	table, key := "replayed", map[string]types.AttributeValue{}
	var err error
	switch strings.TrimPrefix(op, "DynamoDB.") {
	case "TransactWriteItems":
		_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{}}, withBody)
	case "TransactGetItems":
		_, err = db.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{}}, withBody)
	case "Query":
		_, err = db.Query(ctx, &dynamodb.QueryInput{TableName: &table}, withBody)
	case "GetItem":
		_, err = db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key}, withBody)
	case "PutItem":
		_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: key}, withBody)
	case "UpdateItem":
		_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &table, Key: key}, withBody)
	case "DeleteItem":
		_, err = db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table, Key: key}, withBody)
	case "BatchWriteItem":
		_, err = db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{}}, withBody)
	case "BatchGetItem":
		_, err = db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{}}, withBody)
	default:
		err = fmt.Errorf("no replay for %s", op)
	}
	return err
}
