DROP INDEX `sessions_owner_ended_at_idx`;--> statement-breakpoint
CREATE INDEX `sessions_owner_activity_idx` ON `sessions` (`owner`,`ended_at`,`tool`,`host`,`session_id`);--> statement-breakpoint
DROP INDEX `turns_session_seq_idx`;--> statement-breakpoint
CREATE INDEX `turns_session_order_idx` ON `turns` (`owner`,`tool`,`host`,`session_id`,`seq`,`timestamp`,`turn_id`,`model`,`tokens_in`,`tokens_out`,`cost_usd`);--> statement-breakpoint
CREATE INDEX `turns_owner_time_idx` ON `turns` (`owner`,`timestamp`,`tool`,`host`,`session_id`,`model`,`tokens_in`,`tokens_out`,`cost_usd`);