package camt053_test

import "time"

// timeNow is the wall clock, for the benchmark's figures only.
var timeNow = time.Now
