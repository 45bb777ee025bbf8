// Command list-providers is the Lambda function ListProvidersFunction, serving GET /api/v1/passport/providers.
package main

import "github.com/passport-oss/passport/internal/app"

func main() { app.StartAPIFunction("ListProvidersFunction") }
