//go:build !unix

package main

func getNoFile() (soft, hard uint64, err error) { return 0, 0, nil }

func setNoFile(soft, hard uint64) error { return nil }
