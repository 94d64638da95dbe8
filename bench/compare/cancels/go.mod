module example.com/cancels

go 1.19
