wiki_ip = "10.0.0.99"
session = "45m"
