// Package labmatrix runs `punch connect` between every pair of NAT types
// in the lab and renders the result: which path won for each pair and how
// long the connection took, as a Markdown table and as an SVG heat map.
// It drives the punch binary (lab up, lab exec, server, connect), so what
// it measures is what a user gets. `punch lab matrix` and the e2e tests
// use it.
package labmatrix
