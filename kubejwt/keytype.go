package kubejwt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
)

func isRSA(k any) bool {
	pk, ok := k.(*rsa.PublicKey)
	return ok && pk.N.BitLen() >= 2048
}

func isEC(k any) bool {
	pk, ok := k.(*ecdsa.PublicKey)
	return ok && pk.Curve == elliptic.P256()
}
