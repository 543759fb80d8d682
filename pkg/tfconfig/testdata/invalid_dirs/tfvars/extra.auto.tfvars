account_id = 
