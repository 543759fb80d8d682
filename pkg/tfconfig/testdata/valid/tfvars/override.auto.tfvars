precedence = 7
