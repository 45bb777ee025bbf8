// Command get-authorization is the Lambda function GetAuthorizationFunction, serving GET /api/v1/passport/authorizations/{id}.
package main

import "github.com/passport-oss/passport/internal/app"

func main() { app.StartAPIFunction("GetAuthorizationFunction") }
