-- The same child seen by health (birth certificate) and police (birth registration), linked by
-- the certificate number both carry: do they record the same sex? Rows where either side has
-- no definite sex (0 unknown, 9 unstated, null) are not compared.
SELECT (r.sex = c.child_sex) AS sex_agrees
FROM core.birth_registrations r
JOIN core.birth_certificates c ON c.cert_no = r.birth_cert_no
WHERE r.sex IN ('1', '2') AND c.child_sex IN ('1', '2')
