-- Custom SQL migration file, put your code below! --
-- Audit details become JSON objects (issue 12). Each text shape the server used to write is
-- converted to its typed detail; any other text is kept verbatim as {"legacy": "<text>"}.
UPDATE `audit_log` SET `detail` = json_object(
  'from', CASE WHEN substr(`detail`, 1, instr(`detail`, ' → ') - 1) = 'unreadable' THEN NULL ELSE substr(`detail`, 1, instr(`detail`, ' → ') - 1) END,
  'to', substr(`detail`, instr(`detail`, ' → ') + 3))
WHERE `action` = 'security_mode_set'
  AND instr(`detail`, ' → ') > 0
  AND substr(`detail`, 1, instr(`detail`, ' → ') - 1) IN ('unreadable', 'account', 'client-approval')
  AND substr(`detail`, instr(`detail`, ' → ') + 3) IN ('account', 'client-approval');
--> statement-breakpoint
UPDATE `audit_log` SET `detail` = json_object(
  'was', CASE WHEN instr(`detail`, ';') > 0 THEN substr(`detail`, 5, instr(`detail`, ';') - 5) ELSE substr(`detail`, 5) END,
  'endedSessions', CASE WHEN instr(`detail`, '; ended ') > 0 THEN CAST(substr(`detail`, instr(`detail`, '; ended ') + 8) AS INTEGER) ELSE 0 END)
WHERE `action` IN ('client_approved', 'client_rejected', 'client_revoked')
  AND `detail` LIKE 'was %'
  AND (CASE WHEN instr(`detail`, ';') > 0 THEN substr(`detail`, 5, instr(`detail`, ';') - 5) ELSE substr(`detail`, 5) END) IN ('pending', 'approved', 'rejected');
--> statement-breakpoint
UPDATE `audit_log` SET `detail` = '{}' WHERE `action` = 'client_requested' AND `detail` IS NULL;
--> statement-breakpoint
UPDATE `audit_log` SET `detail` = json_object(
  'count', CAST(substr(`detail`, 9) AS INTEGER),
  'sample', json('["' || replace(substr(`detail`, instr(`detail`, '; e.g. ') + 7), ', ', '","') || '"]'),
  'lastAt', substr(`detail`, instr(`detail`, '; last at ') + 10, instr(`detail`, '; e.g. ') - instr(`detail`, '; last at ') - 10))
WHERE `action` IN ('pending_expired', 'pending_evicted')
  AND `detail` LIKE 'dropped % pending client(s), %; last at %; e.g. %'
  AND substr(`detail`, instr(`detail`, '; e.g. ') + 7) NOT GLOB '*[^A-Za-z0-9_, -]*';
--> statement-breakpoint
UPDATE `audit_log` SET `detail` = json_object('legacy', coalesce(`detail`, ''))
WHERE `detail` IS NULL OR json_valid(`detail`) = 0 OR json_type(`detail`) <> 'object';
