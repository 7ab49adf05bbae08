-- Police birth registrations (出生登记) that quote a birth certificate number (出生医学证明编号):
-- is that certificate in the health data? One row per registration with a number.
SELECT EXISTS (SELECT 1 FROM core.birth_certificates c WHERE c.cert_no = r.birth_cert_no) AS certificate_found
FROM core.birth_registrations r
WHERE r.birth_cert_no IS NOT NULL
