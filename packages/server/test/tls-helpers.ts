import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** Certificates for TLS tests, made by Debian's openssl. */

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** A CA (ca.pem, ca.key) in `dir`. */
export function makeCa(dir: string): string {
  openssl(
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.pem"]
      .concat(["-days", "2", "-subj", "/CN=borgstore test CA", "-addext", "basicConstraints=critical,CA:TRUE"])
      .concat(["-addext", "keyUsage=critical,keyCertSign"]),
    dir,
  );
  return join(dir, "ca.pem");
}

/** A server certificate for 127.0.0.1 and localhost signed by the CA, as `<name>.pem` and `<name>.key`. */
export function issue(dir: string, name: string, serial: number): { cert: string; key: string } {
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
  openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`], dir);
  openssl(
    ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", String(serial), "-days", "2"]
      .concat(["-out", `${name}.pem`, "-extfile", "ext.cnf"]),
    dir,
  );
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

