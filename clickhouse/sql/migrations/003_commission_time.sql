-- When a commission line happened (the order, the refund, the sign-up), so reports can put lines on
-- a timeline beside the clicks.
ALTER TABLE commissions ADD COLUMN ts DateTime('UTC');
