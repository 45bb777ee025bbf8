// Command revoke-authorization is the Lambda function RevokeAuthorizationFunction, serving DELETE /api/v1/passport/authorizations/{id}.
package main

import "github.com/passport-oss/passport/internal/app"

func main() { app.StartAPIFunction("RevokeAuthorizationFunction") }
