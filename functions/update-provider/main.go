// Command update-provider is the Lambda function UpdateProviderFunction, serving PATCH /api/v1/passport/providers/{id}.
package main

import "github.com/passport-oss/passport/internal/app"

func main() { app.StartAPIFunction("UpdateProviderFunction") }
