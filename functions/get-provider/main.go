// Command get-provider is the Lambda function GetProviderFunction, serving GET /api/v1/passport/providers/{id}.
package main

import "github.com/passport-oss/passport/internal/app"

func main() { app.StartAPIFunction("GetProviderFunction") }
