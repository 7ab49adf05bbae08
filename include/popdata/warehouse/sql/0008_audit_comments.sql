-- The last published columns without a bilingual COMMENT (audit is read by data engineers).
COMMENT ON COLUMN audit.dq_results.dq_result_id IS '检查结果编号 / result id';
COMMENT ON COLUMN audit.row_warnings.file_id IS '文件编号 / file id';
COMMENT ON COLUMN audit.row_warnings.line_no IS '行号（文件中的物理行，表头为第1行） / physical line in the file, header = 1';
COMMENT ON COLUMN audit.row_warnings.column_name IS '列名 / column';
COMMENT ON COLUMN audit.row_warnings.reason_code IS '提示原因代码 / warning reason code';
COMMENT ON COLUMN audit.row_warnings.masked_value IS '脱敏后的值 / masked value';
