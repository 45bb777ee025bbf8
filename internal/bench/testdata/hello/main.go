// Command hello is the floor of the cold start measurement: a Go Lambda that
// does nothing, built the same way as Passport's functions.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (string, error) { return "hello", nil })
}
