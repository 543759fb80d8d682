account_id = "from-tfvars"
precedence = "first"
account_idd = "typo"
