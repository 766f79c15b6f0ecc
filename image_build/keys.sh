#!/bin/sh
# Development PKI for RAUC bundles: a CA (its certificate is the keyring the image carries) and a signing
# key+certificate issued by it. Usage: keys.sh DIR [NAME]. Production keys are made the same way on an offline
# machine and never enter the repository; DIR defaults to build/keys, which git ignores.
set -eu
dir=${1:-build/keys}
name=${2:-Call-center appliance development}
mkdir -p "$dir"
umask 077
cd "$dir"
[ -f signing.key.pem ] && { echo "keys: $dir already has a signing key"; exit 0; }
cat > openssl.cnf <<CNF
[req]
distinguished_name = dn
[dn]
[v3_ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_leaf]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
CNF
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key.pem -out ca.cert.pem \
    -subj "/O=$name/CN=$name CA" -days 3650 -config openssl.cnf -extensions v3_ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout signing.key.pem \
    -out signing.csr.pem -subj "/O=$name/CN=$name bundle signing" -config openssl.cnf 2>/dev/null
openssl x509 -req -in signing.csr.pem -CA ca.cert.pem -CAkey ca.key.pem -CAcreateserial \
    -out signing.cert.pem -days 1825 -extfile openssl.cnf -extensions v3_leaf 2>/dev/null
rm -f signing.csr.pem ca.cert.srl
chmod 644 ca.cert.pem signing.cert.pem
echo "keys: CA and signing key in $dir (keyring: $dir/ca.cert.pem)"
