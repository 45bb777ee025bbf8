package lambdarie

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Handler returns a Lambda handler of event type In and response type Out
// that invokes the function running under e: the same signature as the one
// its main passes to lambda.Start, so it can stand in for the in-process
// handler (an API Gateway v2 handler for the local gateway, a DynamoDB
// stream handler for the stream poller). A runtime failure or a handler
// error is an error, with the invocation's last log lines.
func Handler[In, Out any](e *Emulator) func(context.Context, In) (Out, error) {
	return func(ctx context.Context, in In) (Out, error) {
		var out Out
		payload, err := json.Marshal(in)
		if err != nil {
			return out, err
		}
		res, err := e.Invoke(ctx, payload)
		if err != nil {
			return out, err
		}
		if res.Status != 200 || res.FunctionError != "" {
			return out, fmt.Errorf("%s: invocation failed (status %d) %s\n%s",
				e.cfg.FunctionName, res.Status, res.FunctionError, lastLines(res.Logs, 10))
		}
		if err := json.Unmarshal(res.Payload, &out); err != nil {
			return out, fmt.Errorf("%s: response: %w", e.cfg.FunctionName, err)
		}
		return out, nil
	}
}

func lastLines(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
