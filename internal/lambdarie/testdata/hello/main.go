// Command hello is the baseline of cold-start measurements: a Go Lambda
// that does nothing at init and answers every event with a fixed response,
// built exactly as the functions are.
package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, ev json.RawMessage) (map[string]string, error) {
		// {"fail": true} makes a handler error, so tests can tell one apart.
		var in struct{ Fail bool }
		if json.Unmarshal(ev, &in) == nil && in.Fail {
			return nil, errors.New("asked to fail")
		}
		return map[string]string{"hello": "world"}, nil
	})
}
