// Command register-provider is the Lambda function RegisterProviderFunction, serving POST /api/v1/passport/providers.
package main

import "github.com/passport-oss/passport/internal/app"

func main() { app.StartAPIFunction("RegisterProviderFunction") }
